// The API reference at /docs: Swagger UI (vendored, loaded by the page as a classic script
// that defines window.SwaggerUIBundle) rendering our published schema.
const root = document.getElementById("api-docs");

window.SwaggerUIBundle({
  url: root.dataset.schemaUrl,
  domNode: root,
  // Off: a deep link is an <a> inside each operation's <button>, a control nested in a control
  // (two tab stops, and announced oddly by screen readers).
  deepLinking: false,
  // "Try it out" sends requests from this page: the session cookie, or an API key entered
  // under Authorize.
  withCredentials: true,
  persistAuthorization: false,
});

// Swagger UI's server picker is a <select> in an empty <label>: give it a name.
new MutationObserver(() => {
  const servers = document.getElementById("servers");
  if (servers && !servers.hasAttribute("aria-label")) servers.setAttribute("aria-label", "Server");
}).observe(root, { childList: true, subtree: true });
