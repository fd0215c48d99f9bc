// Copying text with one click: the Clipboard API, or select-and-copy where it is refused.
// The button says "Copied" for a moment (its .copy-label, or its .copied class).

export async function copyText(button, text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // Clipboard API refused (insecure context, no permission): select-and-copy instead.
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  button.classList.add("copied");
  const label = button.querySelector(".copy-label");
  if (label) label.textContent = "Copied";
  setTimeout(() => {
    button.classList.remove("copied");
    if (label) label.textContent = "Copy";
  }, 1500);
}
