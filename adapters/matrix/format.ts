// Matrix formatted bodies (org.matrix.custom.html) ↔ GFM-MIMI Markdown (draft-ietf-mimi-content:
// GitHub-flavoured Markdown, no autolinks, no HTML; mentions are links to MIMI user URIs).
//
// Inbound, turndown turns the HTML into Markdown; only the structure of an allow-list of tags
// survives (b/i/strong/em/code/pre/a/ul/ol/li/blockquote/br/p/del/h1-h6/hr), everything else
// keeps its text, and scripts, styles, frames, forms and <mx-reply> fallbacks vanish with their
// content. Markdown holds no HTML, so attributes (onclick, style) cannot survive; links keep only
// http(s), mailto and mimi targets, and matrix.to / matrix: user links become MIMI mentions.
//
// Outbound, marked renders the Markdown; raw HTML in it is shown as text (the GFM-MIMI "No HTML"
// rule), autolinks are off, link targets are checked the same way, and MIMI user links become
// matrix.to pills of the users' Matrix IDs.
import { Marked, type Token, type Tokens } from "marked";
import TurndownService from "turndown";

/** The few DOM members the turndown rules read (the DOM comes from turndown's own parser). */
interface DomEl {
  readonly nodeName: string;
  readonly textContent: string | null;
  readonly firstChild: DomEl | null;
  readonly parentNode: DomEl | null;
  readonly nextSibling: DomEl | null;
  readonly children: ArrayLike<DomEl>;
  getAttribute(name: string): string | null;
}

const MXID = /^@[\x21-\x39\x3b-\x7e]{1,255}:[A-Za-z0-9.\-[\]:]{1,255}$/;

/** A Matrix user ID (`@local:server`), loosely checked (historical localparts allowed). */
export function isMatrixUserId(s: string): boolean {
  return s.length <= 255 && MXID.test(s);
}

/** The Matrix user a link names: `https://matrix.to/#/@u:s` (optionally percent-encoded, with `?via=`) or `matrix:u/u:s`. */
export function matrixUserOfLink(href: string): string | undefined {
  const h = href.trim();
  let id: string | undefined;
  const m = /^https:\/\/matrix\.to\/#\/([^?/]+)/i.exec(h);
  if (m?.[1] !== undefined) id = m[1];
  else {
    const u = /^matrix:u\/([^?/#]+)/i.exec(h);
    if (u?.[1] !== undefined) id = `@${u[1]}`;
  }
  if (id === undefined) return undefined;
  try {
    id = decodeURIComponent(id);
  } catch {
    return undefined;
  }
  return isMatrixUserId(id) ? id : undefined;
}

/** The matrix.to permalink of a user (the form Element writes for pills). */
export function matrixToUser(mxid: string): string {
  return `https://matrix.to/#/${mxid}`;
}

const SAFE_SCHEMES = new Set(["http:", "https:", "mailto:", "mimi:"]);

/** A link target we pass on (absolute http(s), mailto or mimi), normalised; undefined for anything else. */
export function safeHref(raw: string): string | undefined {
  const s = raw.trim();
  if (s.length === 0 || s.length > 4096) return undefined;
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return undefined;
  }
  if (!SAFE_SCHEMES.has(u.protocol)) return undefined;
  return u.href;
}

/** A link destination that cannot end or break a Markdown link. */
function markdownDestination(href: string): string {
  return href.replace(/[()<>\s\\]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`);
}

const DROP_WITH_CONTENT = [
  "script",
  "style",
  "iframe",
  "frame",
  "frameset",
  "object",
  "embed",
  "applet",
  "noscript",
  "template",
  "head",
  "title",
  "meta",
  "link",
  "base",
  "svg",
  "math",
  "form",
  "input",
  "button",
  "select",
  "textarea",
  "audio",
  "video",
  "canvas",
  "mx-reply",
] as const;

export interface HtmlToMarkdownContext {
  /** The MIMI user URI of a Matrix user (ghost or local user), for mentions. */
  readonly mimiUserOf: (mxid: string) => string | undefined;
}

function mimiUserOfSafe(ctx: HtmlToMarkdownContext, mxid: string): string | undefined {
  try {
    const uri = ctx.mimiUserOf(mxid);
    return typeof uri === "string" && uri.startsWith("mimi://") ? uri : undefined;
  } catch {
    return undefined;
  }
}

function turndownFor(ctx: HtmlToMarkdownContext): TurndownService {
  const td = new TurndownService({
    headingStyle: "atx",
    codeBlockStyle: "fenced",
    fence: "```",
    emDelimiter: "*",
    strongDelimiter: "**",
    bulletListMarker: "-",
    hr: "---",
    linkStyle: "inlined",
  });
  td.remove([...DROP_WITH_CONTENT]);
  td.addRule("strikethrough", {
    filter: ["del", "s", "strike"],
    replacement: (content: string) => (content.trim().length === 0 ? content : `~~${content}~~`),
  });
  td.addRule("listItem", {
    filter: "li",
    replacement: (content: string, n: unknown) => {
      const node = n as DomEl;
      const parent = node.parentNode;
      let prefix = "- ";
      if (parent?.nodeName === "OL") {
        const startAttr = parent.getAttribute("start");
        const start = startAttr === null || !/^\d{1,9}$/.test(startAttr) ? 1 : Number(startAttr);
        const index = Array.prototype.indexOf.call(parent.children, node);
        prefix = `${start + index}. `;
      }
      const isParagraph = /\n$/.test(content);
      const body = content.replace(/^\n+/, "").replace(/\n+$/, "") + (isParagraph ? "\n" : "");
      return prefix + body.replace(/\n/g, `\n${" ".repeat(prefix.length)}`) + (node.nextSibling ? "\n" : "");
    },
  });
  td.addRule("fencedCodeBlock", {
    filter: (n: unknown) => {
      const node = n as DomEl;
      return node.nodeName === "PRE" && node.firstChild?.nodeName === "CODE";
    },
    replacement: (_content: string, n: unknown) => {
      const code = (n as DomEl).firstChild;
      const cls = code?.getAttribute("class") ?? "";
      const language = /(?:^|\s)language-([A-Za-z0-9_+.#-]{1,40})(?:\s|$)/.exec(cls)?.[1] ?? "";
      const text = code?.textContent ?? "";
      let size = 3;
      for (const m of text.matchAll(/^`{3,}/gm)) size = Math.max(size, m[0].length + 1);
      const fence = "`".repeat(size);
      return `\n\n${fence}${language}\n${text.replace(/\n$/, "")}\n${fence}\n\n`;
    },
  });
  td.addRule("link", {
    filter: "a",
    replacement: (content: string, n: unknown) => {
      const href = (n as DomEl).getAttribute("href") ?? "";
      if (content.trim().length === 0) return content;
      const mxid = matrixUserOfLink(href);
      if (mxid !== undefined) {
        const uri = mimiUserOfSafe(ctx, mxid);
        if (uri !== undefined) {
          const label = content.startsWith("@") || content.startsWith("\\@") ? content : `@${content}`;
          return `[${label}](${markdownDestination(uri)})`;
        }
      }
      const safe = safeHref(href);
      return safe === undefined ? content : `[${content}](${markdownDestination(safe)})`;
    },
  });
  // Matrix images are mxc:// (custom emoji, inline pictures): their alt text stands in.
  td.addRule("image", {
    filter: "img",
    replacement: (_content: string, n: unknown) => td.escape((n as DomEl).getAttribute("alt") ?? (n as DomEl).getAttribute("title") ?? ""),
  });
  return td;
}

/** The Matrix spec lets clients limit nesting to 100 levels; deeper documents are not converted. */
export const MAX_HTML_DEPTH = 100;
/** Documents with more tags than this are not converted either (the plain body stands). */
export const MAX_HTML_TAGS = 5_000;
const VOID = new Set(["br", "hr", "img", "input", "meta", "link", "area", "base", "col", "embed", "param", "source", "track", "wbr"]);

/** A cheap pre-parse scan: too deep or too many tags (parsing and converting those is slow, or recurses without bound). */
export function htmlTooComplex(html: string): boolean {
  let depth = 0;
  let tags = 0;
  for (const m of html.matchAll(/<(\/?)([A-Za-z][A-Za-z0-9-]*)[^>]*?(\/?)>/g)) {
    if (++tags > MAX_HTML_TAGS) return true;
    const name = (m[2] ?? "").toLowerCase();
    if (m[1] === "/") depth = Math.max(0, depth - 1);
    else if (!VOID.has(name) && m[3] !== "/" && ++depth > MAX_HTML_DEPTH) return true;
  }
  return false;
}

/**
 * Sanitises a Matrix formatted body and converts it to GFM-MIMI Markdown. Throws on documents
 * nested deeper than MAX_HTML_DEPTH or with more than MAX_HTML_TAGS tags; callers catch that and
 * keep the plain body.
 */
export function htmlToMarkdown(html: string, ctx: HtmlToMarkdownContext): string {
  if (htmlTooComplex(html)) throw new Error("formatted body nested too deeply or too large to convert");
  return turndownFor(ctx)
    .turndown(html)
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}

/** Removes Matrix reply fallbacks (`<mx-reply>…</mx-reply>`) from a formatted body. */
export function stripHtmlReplyFallback(html: string): string {
  return html.replace(/^\s*<mx-reply>[\s\S]*?<\/mx-reply>/i, "");
}

/** Removes a Matrix reply fallback from a plain body: the leading `> ` lines and the blank line after them. */
export function stripBodyReplyFallback(body: string): string {
  if (!body.startsWith(">")) return body;
  const lines = body.split("\n");
  let i = 0;
  while (i < lines.length && (lines[i] ?? "").startsWith(">")) i++;
  if (i < lines.length && (lines[i] ?? "") === "") i++;
  return lines.slice(i).join("\n");
}

// ---- Markdown → HTML ------------------------------------------------------------------------

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c);
}

const marked = new Marked({
  async: false,
  gfm: true,
  breaks: false,
  tokenizer: {
    // GFM-MIMI: no autolinks (neither <https://…> nor bare URLs).
    autolink: () => undefined,
    url: () => undefined,
  },
  renderer: {
    // GFM-MIMI: no HTML; raw HTML is text.
    html({ text, block }: Tokens.HTML | Tokens.Tag): string {
      const escaped = escapeHtml(text);
      return block === true ? `<p>${escaped.trim().replace(/\n/g, "<br>")}</p>\n` : escaped;
    },
    link({ href, tokens }: Tokens.Link): string {
      const inner = this.parser.parseInline(tokens);
      const safe = safeHref(href);
      if (safe === undefined || safe.startsWith("mimi:")) return inner;
      return `<a href="${escapeHtml(safe)}">${inner}</a>`;
    },
    // Matrix shows only mxc:// images inline; others become links.
    image({ href, text }: Tokens.Image): string {
      if (/^mxc:\/\/[A-Za-z0-9.\-:[\]]+\/[A-Za-z0-9_-]+$/.test(href)) return `<img src="${escapeHtml(href)}" alt="${escapeHtml(text)}">`;
      const safe = safeHref(href);
      if (safe === undefined || safe.startsWith("mimi:")) return escapeHtml(text);
      return `<a href="${escapeHtml(safe)}">${escapeHtml(text.length > 0 ? text : safe)}</a>`;
    },
    // Task lists: Matrix HTML has no <input>.
    checkbox({ checked }: Tokens.Checkbox): string {
      return checked ? "[x] " : "[ ] ";
    },
  },
});

export interface MarkdownToHtmlContext {
  /** The Matrix user ID of a MIMI user (a ghost for a remote user, the user itself for a local one). */
  readonly matrixIdOf: (mimiUri: string) => string | undefined;
}

export interface RenderedHtml {
  readonly html: string;
  /** Matrix users mentioned (for `m.mentions`). */
  readonly mentions: readonly string[];
}

/** Renders GFM-MIMI Markdown as a Matrix formatted body; MIMI user links become matrix.to pills. */
export function markdownToHtml(markdown: string, ctx: MarkdownToHtmlContext): RenderedHtml {
  const mentions = new Set<string>();
  const tokens = marked.lexer(markdown);
  void marked.walkTokens(tokens, (token: Token) => {
    if (token.type !== "link") return;
    const link = token as Tokens.Link;
    if (!link.href.startsWith("mimi://")) return;
    let mxid: string | undefined;
    try {
      mxid = ctx.matrixIdOf(link.href);
    } catch {
      mxid = undefined;
    }
    if (mxid !== undefined && isMatrixUserId(mxid)) {
      mentions.add(mxid);
      link.href = matrixToUser(mxid);
    }
  });
  const html = marked.parser(tokens).trim();
  return { html, mentions: [...mentions] };
}
