"""Static files as production serves them: hashed names, compressed copies, and ES modules
whose `import ... from "./x.js"` lines point at the hashed name of what they import, so a
changed module never hides behind a long-cached importer."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    support_js_module_import_aggregation = True
