// Small things the page tells or asks: a toast that fades, and a confirmation dialog.

export function toaster(element) {
  let timer = null;
  return (message) => {
    element.textContent = message;
    element.hidden = false;
    clearTimeout(timer);
    timer = setTimeout(() => (element.hidden = true), 4000);
  };
}

export function confirmer(dialog) {
  const title = dialog.querySelector("#confirm-title");
  const text = dialog.querySelector("#confirm-text");
  const ok = dialog.querySelector("#confirm-ok");
  return ({ title: heading, text: body, action }) =>
    new Promise((resolve) => {
      title.textContent = heading;
      text.textContent = body;
      ok.textContent = action;
      dialog.returnValue = "";
      const opener = document.activeElement;
      dialog.addEventListener(
        "close",
        () => {
          // Focus goes back to what opened the dialog (Esc, Cancel or the action alike).
          if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
          resolve(dialog.returnValue === "confirm");
        },
        { once: true },
      );
      dialog.showModal();
      dialog.querySelector('button[value="cancel"]').focus();
    });
}
