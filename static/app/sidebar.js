// The list of chats (GET /v1/conversations): newest first, searchable, with the archived ones
// a tab away; each can be renamed, archived (or brought back) and deleted (PATCH / DELETE
// /v1/conversations/{id}). On a phone the list is a drawer over the chat.

import { api } from "./api.js";
import { icon, iconButton } from "./icons.js";

const PAGE = 30;

export class Sidebar {
  constructor({ shell, onOpen, onDeleted, toast, confirm }) {
    this.shell = shell;
    this.list = shell.querySelector("#conversation-list");
    this.note = shell.querySelector("#conversation-list-note");
    this.more = shell.querySelector("#load-more");
    this.search = shell.querySelector("#chat-search");
    this.tabs = [...shell.querySelectorAll(".sidebar-tabs [data-archived]")];
    this.opener = shell.querySelector("[data-open-sidebar]");
    this.onOpen = onOpen;
    this.onDeleted = onDeleted;
    this.toast = toast;
    this.confirm = confirm;
    this.items = [];
    this.activeId = null;
    this.archived = false;
    this.request = 0;
    this.menu = this.buildMenu();

    let timer = null;
    this.search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => this.reload(), 200);
    });
    this.search.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.search.value) {
        event.stopPropagation();
        this.search.value = "";
        this.reload();
      }
    });
    for (const tab of this.tabs) {
      tab.addEventListener("click", () => {
        this.archived = tab.dataset.archived === "true";
        for (const other of this.tabs) other.setAttribute("aria-pressed", String(other === tab));
        this.reload();
      });
    }
    this.more.addEventListener("click", () => this.load({ append: true }));
    this.list.addEventListener("click", (event) => {
      const link = event.target.closest("a.conv-link");
      if (!link || event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      this.onOpen(Number(link.closest("li").dataset.id));
      this.closeDrawer();
    });
    for (const closer of shell.querySelectorAll("[data-close-sidebar]")) {
      closer.addEventListener("click", () => this.closeDrawer());
    }
    this.opener.addEventListener("click", () => this.openDrawer());
  }

  openDrawer() {
    this.shell.dataset.sidebar = "open";
    this.opener.setAttribute("aria-expanded", "true");
    this.search.focus();
  }

  closeDrawer() {
    if (this.shell.dataset.sidebar !== "open") return false;
    const hadFocus = this.shell.querySelector("#sidebar").contains(document.activeElement);
    this.shell.dataset.sidebar = "closed";
    this.opener.setAttribute("aria-expanded", "false");
    if (hadFocus) this.opener.focus(); // not left on a control that has slid away
    return true;
  }

  show(page) {
    this.items = page.data;
    this.render(page.hasMore);
  }

  async load({ append = false } = {}) {
    const ticket = ++this.request;
    const params = new URLSearchParams({
      q: this.search.value.trim(),
      archived: String(this.archived),
      limit: String(PAGE),
      offset: String(append ? this.items.length : 0),
    });
    try {
      const page = await api(`/v1/conversations?${params}`);
      if (ticket !== this.request) return; // a newer search answered first
      this.items = append ? this.items.concat(page.data) : page.data;
      this.render(page.hasMore);
    } catch (error) {
      if (ticket === this.request) this.toast(error.message);
    }
  }

  reload() {
    return this.load();
  }

  setActive(id) {
    this.activeId = id;
    for (const item of this.list.children) {
      const link = item.querySelector("a.conv-link");
      const active = Number(item.dataset.id) === id;
      item.classList.toggle("active", active);
      if (link) {
        if (active) link.setAttribute("aria-current", "page");
        else link.removeAttribute("aria-current");
      }
    }
  }

  render(hasMore) {
    this.list.replaceChildren(...this.items.map((c) => this.item(c)));
    this.setActive(this.activeId);
    this.more.hidden = !hasMore;
    const query = this.search.value.trim();
    let note = "";
    if (!this.items.length) {
      if (query) note = `No chats match “${query}”.`;
      else note = this.archived ? "No archived chats." : "No chats yet. Say hello!";
    }
    this.note.textContent = note;
    this.note.hidden = !note;
  }

  item(conversation) {
    const li = document.createElement("li");
    li.className = "conv";
    li.dataset.id = conversation.id;
    const link = document.createElement("a");
    link.className = "conv-link";
    link.href = `/c/${conversation.id}`;
    link.textContent = conversation.title || "New chat";
    link.title = conversation.title || "New chat";
    const more = iconButton("more", `Options for ${conversation.title || "this chat"}`, "icon-btn conv-more");
    more.setAttribute("aria-haspopup", "menu");
    more.setAttribute("aria-expanded", "false");
    more.addEventListener("click", (event) => {
      event.stopPropagation();
      this.openMenu(conversation, more);
    });
    li.append(link, more);
    return li;
  }

  buildMenu() {
    const menu = document.createElement("div");
    menu.className = "menu";
    menu.setAttribute("role", "menu");
    menu.hidden = true;
    const entry = (name, iconName, label, danger = false) => {
      const button = document.createElement("button");
      button.type = "button";
      button.setAttribute("role", "menuitem");
      button.dataset.action = name;
      button.className = danger ? "danger" : "";
      button.append(icon(iconName), document.createTextNode(label));
      menu.append(button);
      return button;
    };
    entry("rename", "edit", "Rename");
    this.archiveEntry = entry("archive", "archive", "Archive");
    entry("delete", "trash", "Delete", true);
    menu.addEventListener("click", (event) => {
      const button = event.target.closest("[data-action]");
      if (!button || !this.menuFor) return;
      const { conversation } = this.menuFor;
      this.closeMenu(true); // focus back on the chat's options button, where a dialog returns it
      if (button.dataset.action === "rename") this.rename(conversation);
      else if (button.dataset.action === "archive") this.setArchived(conversation, !conversation.archived);
      else this.remove(conversation);
    });
    menu.addEventListener("keydown", (event) => {
      const items = [...menu.querySelectorAll('[role="menuitem"]')];
      const index = items.indexOf(document.activeElement);
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const step = event.key === "ArrowDown" ? 1 : -1;
        items[(index + step + items.length) % items.length].focus();
      } else if (event.key === "Escape" || event.key === "Tab") {
        event.stopPropagation();
        if (event.key === "Escape") event.preventDefault();
        this.closeMenu(event.key === "Escape");
      }
    });
    document.addEventListener("click", (event) => {
      if (!menu.contains(event.target)) this.closeMenu(false);
    });
    document.body.append(menu);
    return menu;
  }

  openMenu(conversation, button) {
    if (this.menuFor && this.menuFor.button === button) {
      this.closeMenu(true);
      return;
    }
    this.closeMenu(false);
    this.menuFor = { conversation, button };
    this.archiveEntry.lastChild.textContent = conversation.archived ? "Unarchive" : "Archive";
    const box = button.getBoundingClientRect();
    this.menu.hidden = false;
    const height = this.menu.offsetHeight;
    const top = box.bottom + height + 8 > window.innerHeight ? box.top - height - 4 : box.bottom + 4;
    this.menu.style.top = `${Math.max(8, top)}px`;
    this.menu.style.left = `${Math.max(8, Math.min(box.left, window.innerWidth - this.menu.offsetWidth - 8))}px`;
    button.setAttribute("aria-expanded", "true");
    this.menu.querySelector('[role="menuitem"]').focus();
  }

  closeMenu(returnFocus) {
    if (!this.menuFor) return false;
    const { button } = this.menuFor;
    this.menuFor = null;
    this.menu.hidden = true;
    button.setAttribute("aria-expanded", "false");
    if (returnFocus && button.isConnected) button.focus();
    return true;
  }

  rename(conversation) {
    const li = this.list.querySelector(`li[data-id="${conversation.id}"]`);
    if (!li) return;
    const link = li.querySelector("a.conv-link");
    const input = document.createElement("input");
    input.type = "text";
    input.className = "conv-rename";
    input.value = conversation.title;
    input.maxLength = 200;
    input.setAttribute("aria-label", "New name for this chat");
    link.replaceWith(input);
    input.focus();
    input.select();
    let finished = false;
    const finish = async (save) => {
      if (finished) return;
      finished = true;
      const title = input.value.trim();
      input.replaceWith(link);
      if (!save || !title || title === conversation.title) return;
      try {
        const updated = await api(`/v1/conversations/${conversation.id}`, { method: "PATCH", body: { title } });
        this.update(updated);
      } catch (error) {
        this.toast(error.message);
      }
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        finish(true);
      } else if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        finish(false);
      }
    });
    input.addEventListener("blur", () => finish(true));
  }

  async setArchived(conversation, archived) {
    try {
      await api(`/v1/conversations/${conversation.id}`, { method: "PATCH", body: { archived } });
    } catch (error) {
      this.toast(error.message);
      return;
    }
    this.drop(conversation.id);
    this.toast(archived ? "Chat archived. Find it under Archived." : "Chat moved back to your chats.");
  }

  async remove(conversation) {
    const ok = await this.confirm({
      title: "Delete this chat?",
      text: `“${conversation.title || "New chat"}” and all its messages will be deleted. This cannot be undone.`,
      action: "Delete",
    });
    if (!ok) return;
    try {
      await api(`/v1/conversations/${conversation.id}`, { method: "DELETE" });
    } catch (error) {
      this.toast(error.message);
      return;
    }
    this.drop(conversation.id);
    this.onDeleted(conversation.id);
    this.toast("Chat deleted.");
  }

  drop(id) {
    this.items = this.items.filter((c) => c.id !== id);
    this.render(!this.more.hidden);
  }

  // A chat changed (renamed, or new): show its summary, newest first.
  update(summary) {
    const index = this.items.findIndex((c) => c.id === summary.id);
    if (index >= 0) this.items[index] = summary;
    else if (!this.archived && !this.search.value.trim()) this.items.unshift(summary);
    this.items.sort((a, b) => (a.updatedAt < b.updatedAt ? 1 : a.updatedAt > b.updatedAt ? -1 : b.id - a.id));
    this.render(!this.more.hidden);
  }
}
