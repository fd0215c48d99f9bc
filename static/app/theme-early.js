// A remembered light or dark theme, applied before the first paint: a classic script loaded
// (blocking) in <head> before the stylesheet, not a module, so it runs before anything is drawn.
// theme.js (a module, run later) draws the toggle and remembers a new choice.
try {
  var theme = localStorage.getItem("chuk-theme");
  if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
} catch (e) {
  // Storage refused (private mode, blocked cookies): the system's preference applies.
}
