// Local typings for @xmpp/component 0.13.1 (CommonJS, published without typings; it brings its
// own @xmpp 0.13 tree: connection-tcp, xml on ltx 3, jid, middleware, reconnect, iq). Only the
// surface the XMPP adapter uses is declared. Elements built with this package's `xml()` are the
// package's own ltx elements: never mix them with @xmpp/client's `xml()` (dependency trial §5.3).
declare module "@xmpp/component" {
  import type { EventEmitter } from "node:events";

  /** An ltx 3 element as @xmpp/xml 0.13 builds and parses it. */
  export interface XmlElement {
    name: string;
    attrs: Record<string, string | undefined>;
    children: (XmlElement | string)[];
    parent: XmlElement | null;
    /** True when the name matches and, if given, the namespace (own or inherited xmlns). */
    is(name: string, xmlns?: string): boolean;
    getName(): string;
    getNS(): string | undefined;
    getAttr(name: string): string | undefined;
    getChild(name: string, xmlns?: string): XmlElement | undefined;
    getChildren(name: string, xmlns?: string): XmlElement[];
    getChildElements(): XmlElement[];
    getChildText(name: string, xmlns?: string): string | null;
    /** The concatenated text children. */
    getText(): string;
    text(): string;
    append(...nodes: (XmlElement | string)[]): XmlElement;
    c(name: string, attrs?: Record<string, string>): XmlElement;
    t(text: string): XmlElement;
    up(): XmlElement;
    remove(el: XmlElement | string, xmlns?: string): XmlElement;
    toString(): string;
  }

  export type XmlChild = XmlElement | string | undefined | null | false | readonly XmlChild[];

  /** ltx createElement: null/undefined attributes are dropped, array children are flattened. */
  export function xml(name: string, attrs?: Record<string, string | number | undefined | null> | null, ...children: XmlChild[]): XmlElement;
  export namespace xml {
    /** ltx's XML escaping of attribute values. */
    function escapeXML(s: string): string;
    function escapeXMLText(s: string): string;
  }

  export interface ComponentOptions {
    /** `xmpp://host:port` of the server's component listener (XEP-0114). */
    service: string;
    /** The component's domain (its JID). */
    domain: string;
    /** The shared secret, or a function that hands it to `authenticate`. */
    password: string | ((authenticate: (password: string) => Promise<void>) => Promise<void>);
  }

  /** Status names emitted by @xmpp/connection 0.13 ("status" event and one event per status). */
  export type ComponentStatus =
    | "offline"
    | "connecting"
    | "connect"
    | "opening"
    | "open"
    | "online"
    | "closing"
    | "close"
    | "disconnecting"
    | "disconnect";

  export interface Reconnect extends EventEmitter {
    delay: number;
    start(): void;
    /** Removes the built-in fixed-delay reconnect (the adapter does its own backoff). */
    stop(): void;
  }

  export interface Component extends EventEmitter {
    status: ComponentStatus;
    jid: { toString(): string } | null;
    /** Connection timeout for stream open and close, milliseconds (default 2000). */
    timeout: number;
    options: { service: string; domain: string; lang?: string };
    readonly reconnect: Reconnect;
    /** The TCP socket while connected. */
    socket: { destroy(): void } | null;
    /** Opens the socket, then the stream; resolves once the handshake succeeded ("online"). */
    start(): Promise<void>;
    /** Closes the stream and the socket; status becomes "offline". */
    stop(): Promise<unknown>;
    /** Opens the TCP socket (status "connect"). */
    connect(service: string): Promise<void>;
    /** Opens the stream; the factory's "open" listener then sends the XEP-0114 handshake. */
    open(options: { domain: string; lang?: string }): Promise<XmlElement>;
    /** Closes the socket only. */
    disconnect(timeout?: number): Promise<void>;
    /** Serialises and writes one element (sets `from` to the component domain when missing). */
    send(element: XmlElement): Promise<void>;
    /** Writes raw serialised XML in one socket write. */
    write(data: string): Promise<void>;
  }

  /** Creates the component. Its middleware, iq caller/callee and reconnect are attached. */
  export function component(options: ComponentOptions): Component;
}
