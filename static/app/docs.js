// The API reference at /docs: Swagger UI (vendored, loaded by the page as a classic script
// that defines window.SwaggerUIBundle) rendering our published schema.
const root = document.getElementById("api-docs");

window.SwaggerUIBundle({
  url: root.dataset.schemaUrl,
  domNode: root,
  deepLinking: true,
  // "Try it out" sends requests from this page: the session cookie, or an API key entered
  // under Authorize.
  withCredentials: true,
  persistAuthorization: false,
});
