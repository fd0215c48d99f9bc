// Light, dark, or whatever the system prefers; the choice is remembered in localStorage and
// applied before the first paint by theme-early.js (loaded in base.html's <head>).

const KEY = "chuk-theme";
const ORDER = ["system", "light", "dark"];
const LABEL = { system: "follows the system", light: "light", dark: "dark" };
const ICON = { system: "auto", light: "sun", dark: "moon" };

function current() {
  const stored = localStorage.getItem(KEY);
  return stored === "light" || stored === "dark" ? stored : "system";
}

function apply(theme) {
  if (theme === "system") {
    localStorage.removeItem(KEY);
    delete document.documentElement.dataset.theme;
  } else {
    localStorage.setItem(KEY, theme);
    document.documentElement.dataset.theme = theme;
  }
  for (const button of document.querySelectorAll("[data-theme-toggle]")) {
    const next = ORDER[(ORDER.indexOf(theme) + 1) % ORDER.length];
    button.setAttribute("aria-label", `Theme: ${LABEL[theme]}. Switch to ${LABEL[next]}`);
    button.title = button.getAttribute("aria-label");
    button.dataset.themeState = theme;
    const use = button.querySelector("[data-theme-icon] use");
    if (use) use.setAttribute("href", "#i-" + ICON[theme]);
  }
}

apply(current());
for (const button of document.querySelectorAll("[data-theme-toggle]")) {
  button.addEventListener("click", () => {
    apply(ORDER[(ORDER.indexOf(current()) + 1) % ORDER.length]);
  });
}
