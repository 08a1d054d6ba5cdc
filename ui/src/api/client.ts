// The one typed client for the local Avatarium API. Everything the UI knows
// about the server goes through here, over plain HTTP and WebSocket, so the
// same code runs in a browser and inside the desktop shell.

import type {
  AiProvider,
  Analytics,
  ApiKey,
  Avatar,
  AvatarInput,
  AvatarPreset,
  Conversation,
  ConversationEvent,
  ConversationInput,
  Health,
  HistoryItem,
  KnowledgeItem,
  Me,
  ModelEntry,
  NewApiKey,
  Persona,
  Plan,
  PublicAvatar,
  PublicReply,
  PublicSession,
  Session,
  SessionDescription,
  SessionSummary,
  SpeakInput,
  SpeakTask,
  Speech,
  StreamingNewInput,
  StreamingSession,
  StreamingSessions,
  StreamingStarted,
  StreamingStopped,
  SttProvider,
  TtsInput,
  Voice,
} from './types';

export type * from './types';

/** An error answered in the API's envelope, or a network failure (status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Reads `{error: {code, message}, meta: {requestId}}`, whatever the status. */
export function errorFromBody(status: number, body: unknown): ApiError {
  const b = body as { error?: { code?: string; message?: string }; meta?: { requestId?: string } } | null;
  const code = b?.error?.code ?? (status === 0 ? 'NETWORK_ERROR' : `HTTP_${status}`);
  const message =
    b?.error?.message ?? (status === 0 ? 'The Avatarium server cannot be reached' : `Request failed (${status})`);
  return new ApiError(status, code, message, b?.meta?.requestId);
}

export type UploadProgress = (loaded: number, total: number) => void;

export interface ClientOptions {
  /** '' for the same origin, or e.g. 'http://127.0.0.1:8000'. */
  baseUrl: string;
  /** The current bearer credential, if any. */
  token: () => string | null;
  /** Called when an authenticated request is refused (expired token). */
  onUnauthorized?: () => void;
}

type Query = Record<string, string | number | undefined>;

interface RequestOptions {
  body?: unknown;
  query?: Query;
  /** Send no Authorization header (public endpoints). */
  anonymous?: boolean;
  /** Let the request outlive the page (small bodies only). */
  keepalive?: boolean;
}

export class ApiClient {
  constructor(private readonly opts: ClientOptions) {}

  get baseUrl(): string {
    return this.opts.baseUrl;
  }

  url(path: string, query?: Query): string {
    let url = this.opts.baseUrl + path;
    if (query) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, String(v));
      const s = q.toString();
      if (s) url += `?${s}`;
    }
    return url;
  }

  private headers(anonymous: boolean, json: boolean): Record<string, string> {
    const h: Record<string, string> = { Accept: 'application/json' };
    if (json) h['Content-Type'] = 'application/json';
    const token = anonymous ? null : this.opts.token();
    if (token) h.Authorization = `Bearer ${token}`;
    return h;
  }

  /** One request; resolves to the parsed JSON body (the whole envelope). */
  async raw<T>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    const hasBody = o.body !== undefined;
    let res: Response;
    try {
      res = await fetch(this.url(path, o.query), {
        method,
        headers: this.headers(!!o.anonymous, hasBody),
        body: hasBody ? JSON.stringify(o.body) : undefined,
        keepalive: o.keepalive,
      });
    } catch {
      throw errorFromBody(0, null);
    }
    return this.parse<T>(res.status, await res.text(), !o.anonymous);
  }

  private parse<T>(status: number, text: string, authenticated: boolean): T {
    let body: unknown = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    if (status < 200 || status >= 300) {
      if (status === 401 && authenticated && this.opts.token()) this.opts.onUnauthorized?.();
      throw errorFromBody(status, body);
    }
    return body as T;
  }

  /** A request whose answer is `{data: T}`. */
  async data<T>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    const body = await this.raw<{ data: T }>(method, path, o);
    return body.data;
  }

  /** Multipart or binary upload with progress (fetch cannot report it). */
  upload<T>(method: string, path: string, body: FormData | Blob, onProgress?: UploadProgress, contentType?: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(method, this.url(path));
      xhr.setRequestHeader('Accept', 'application/json');
      if (contentType) xhr.setRequestHeader('Content-Type', contentType);
      const token = this.opts.token();
      if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
      xhr.upload.onprogress = (e) => onProgress?.(e.loaded, e.lengthComputable ? e.total : 0);
      xhr.onerror = () => reject(errorFromBody(0, null));
      xhr.onload = () => {
        try {
          resolve(this.parse<{ data: T }>(xhr.status, xhr.responseText, true).data);
        } catch (e) {
          reject(e);
        }
      };
      xhr.send(body);
    });
  }

  // --- health and auth -----------------------------------------------------

  health(): Promise<Health> {
    return this.raw<Health>('GET', '/health', { anonymous: true });
  }

  signup(email: string, password: string, name?: string): Promise<Session> {
    return this.data('POST', '/v1/auth/signup', { body: { email, password, name }, anonymous: true });
  }

  login(email: string, password: string): Promise<Session> {
    return this.data('POST', '/v1/auth/login', { body: { email, password }, anonymous: true });
  }

  me(): Promise<Me> {
    return this.data('GET', '/v1/auth/me');
  }

  // --- presets and personas ------------------------------------------------

  presets(): Promise<AvatarPreset[]> {
    return this.data('GET', '/v1/avatars', { anonymous: true });
  }

  personas(): Promise<Persona[]> {
    return this.data('GET', '/v1/personas', { anonymous: true });
  }

  persona(id: string): Promise<Persona> {
    return this.data('GET', `/v1/personas/id/${encodeURIComponent(id)}`, { anonymous: true });
  }

  // --- consumer avatars ----------------------------------------------------

  avatars(): Promise<Avatar[]> {
    return this.data('GET', '/v1/consumer-avatars');
  }

  avatar(id: string): Promise<Avatar> {
    return this.data('GET', `/v1/consumer-avatars/${encodeURIComponent(id)}`);
  }

  createAvatar(input: AvatarInput): Promise<Avatar> {
    return this.data('POST', '/v1/consumer-avatars', { body: input });
  }

  /** Partial update; a field set to null is cleared. */
  updateAvatar(id: string, patch: AvatarInput): Promise<Avatar> {
    return this.data('PATCH', `/v1/consumer-avatars/${encodeURIComponent(id)}`, { body: patch });
  }

  async deleteAvatar(id: string): Promise<void> {
    await this.raw('DELETE', `/v1/consumer-avatars/${encodeURIComponent(id)}`);
  }

  /** Upload a GLB/VRM model; it becomes the avatar's model. */
  uploadModel(id: string, file: Blob, onProgress?: UploadProgress): Promise<Avatar> {
    return this.upload('PUT', `/v1/consumer-avatars/${encodeURIComponent(id)}/model`, file, onProgress, 'model/gltf-binary');
  }

  analytics(id: string, days: 7 | 30 | 90 = 30): Promise<Analytics> {
    return this.data('GET', `/v1/consumer-avatars/${encodeURIComponent(id)}/analytics`, { query: { days } });
  }

  // --- knowledge -----------------------------------------------------------

  knowledge(avatarId: string): Promise<KnowledgeItem[]> {
    return this.data('GET', `/v1/consumer-avatars/${encodeURIComponent(avatarId)}/knowledge`);
  }

  addKnowledgeText(avatarId: string, title: string, content: string): Promise<KnowledgeItem> {
    return this.data('POST', `/v1/consumer-avatars/${encodeURIComponent(avatarId)}/knowledge`, {
      body: { type: 'text', title: title || undefined, content },
    });
  }

  addKnowledgeUrl(avatarId: string, url: string, title?: string): Promise<KnowledgeItem> {
    return this.data('POST', `/v1/consumer-avatars/${encodeURIComponent(avatarId)}/knowledge`, {
      body: { type: 'url', url, title: title || undefined },
    });
  }

  addKnowledgeFile(avatarId: string, file: File, title?: string, onProgress?: UploadProgress): Promise<KnowledgeItem> {
    const form = new FormData();
    if (title) form.append('title', title);
    form.append('file', file, file.name);
    return this.upload('POST', `/v1/consumer-avatars/${encodeURIComponent(avatarId)}/knowledge`, form, onProgress);
  }

  async deleteKnowledge(avatarId: string, itemId: string): Promise<void> {
    await this.raw(
      'DELETE',
      `/v1/consumer-avatars/${encodeURIComponent(avatarId)}/knowledge/${encodeURIComponent(itemId)}`,
    );
  }

  // --- conversations (000) -------------------------------------------------

  createConversation(input: ConversationInput): Promise<Conversation> {
    return this.data('POST', '/v1/conversations', { body: input });
  }

  async endConversation(id: string): Promise<void> {
    await this.raw('POST', `/v1/conversations/${encodeURIComponent(id)}/end`);
  }

  /** Connects to a conversation's `wsUrl` (its token is in the URL). */
  connectConversation(wsUrl: string): ConversationSocket {
    return new ConversationSocket(wsUrl);
  }

  // --- public avatar pages (002) -------------------------------------------

  publicAvatar(shortId: string): Promise<PublicAvatar> {
    return this.data('GET', `/v1/public/avatar/${encodeURIComponent(shortId)}`, { anonymous: true });
  }

  startSession(shortId: string, visitor: { visitorName?: string; visitorEmail?: string; source?: string } = {}): Promise<PublicSession> {
    return this.data('POST', `/v1/public/avatar/${encodeURIComponent(shortId)}/session`, {
      body: visitor,
      anonymous: true,
    });
  }

  publicChat(shortId: string, sessionId: string, message: string, history: HistoryItem[]): Promise<PublicReply> {
    return this.data('POST', `/v1/public/avatar/${encodeURIComponent(shortId)}/chat`, {
      body: { sessionId, message, history },
      anonymous: true,
    });
  }

  endSession(shortId: string, sessionId: string): Promise<SessionSummary> {
    return this.data('POST', this.endSessionPath(shortId, sessionId), { anonymous: true });
  }

  endSessionPath(shortId: string, sessionId: string): string {
    return `/v1/public/avatar/${encodeURIComponent(shortId)}/session/${encodeURIComponent(sessionId)}/end`;
  }

  // --- models and speech ---------------------------------------------------

  async models(): Promise<ModelEntry[]> {
    return (await this.raw<{ data: ModelEntry[] }>('GET', '/v1/models', { anonymous: true })).data;
  }

  providers(): Promise<AiProvider[]> {
    return this.data('GET', '/v1/ai/providers');
  }

  voices(): Promise<Voice[]> {
    return this.data('GET', '/v1/tts/voices', { anonymous: true });
  }

  tts(input: TtsInput): Promise<Speech> {
    return this.data('POST', '/v1/tts', { body: input });
  }

  ttsPreview(input: Partial<TtsInput>): Promise<Speech> {
    return this.data('POST', '/v1/tts/preview', { body: input });
  }

  sttProviders(): Promise<SttProvider[]> {
    return this.data('GET', '/v1/stt/providers', { anonymous: true });
  }

  // --- realtime avatar sessions (003) ---------------------------------------
  // Bare JSON answers (no `data` wrapper); errors use the usual envelope.

  /** Opens a realtime session of an avatar (the account's bearer token). */
  streamingNew(input: StreamingNewInput = {}): Promise<StreamingSession> {
    return this.raw('POST', '/v1/streaming.new', { body: input });
  }

  /** WebRTC: the client's complete offer (candidates included) in, the answer out. */
  streamingStart(sessionId: string, offer: SessionDescription): Promise<StreamingStarted> {
    return this.raw('POST', '/v1/streaming.start', { body: { session_id: sessionId, sdp: { type: offer.type, sdp: offer.sdp } } });
  }

  /** Stops a session; the request survives the page being closed. */
  streamingStop(sessionId: string): Promise<StreamingStopped> {
    return this.raw('POST', '/v1/streaming.stop', { body: { session_id: sessionId }, keepalive: true });
  }

  streamingSessions(): Promise<StreamingSessions> {
    return this.raw('GET', '/v1/streaming.sessions');
  }

  /** Makes a session's avatar say a text (no LLM); progress at GET /v1/avatar.speak/{task_id}. */
  avatarSpeak(input: SpeakInput): Promise<SpeakTask> {
    return this.raw('POST', '/v1/avatar.speak', { body: input });
  }

  /** The session WebSocket's URL (`ws:`/`wss:` of the API's origin). */
  sessionSocketUrl(sessionId: string, accessToken: string): string {
    const origin = typeof location !== 'undefined' ? location.origin : 'http://127.0.0.1';
    const url = new URL(this.url(`/ws/${encodeURIComponent(sessionId)}`, { token: accessToken }), origin);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    return url.toString();
  }

  // --- API keys and billing ------------------------------------------------

  apiKeys(): Promise<ApiKey[]> {
    return this.data('GET', '/v1/api-keys');
  }

  createApiKey(name: string): Promise<NewApiKey> {
    return this.data('POST', '/v1/api-keys', { body: { name } });
  }

  async revokeApiKey(id: string): Promise<void> {
    await this.raw('DELETE', `/v1/api-keys/${encodeURIComponent(id)}`);
  }

  plans(): Promise<Plan[]> {
    return this.data('GET', '/v1/consumer-billing/plans', { anonymous: true });
  }

  subscription(): Promise<Subscription> {
    return this.data('GET', '/v1/consumer-billing/subscription');
  }
}

export interface Subscription {
  planId: string;
  plan: Plan;
  status: string;
  checkoutAvailable: boolean;
  currentPeriodStart: string;
  currentPeriodEnd: string;
  usage: { avatars: number; avatarLimit: number | null; sessionsThisMonth: number; sessionQuota: number | null };
}

type Listener = (e: ConversationEvent) => void;

/** The conversation WebSocket: typed events in, `message`/`ping` out. */
export class ConversationSocket {
  private readonly ws: WebSocket;
  private readonly listeners = new Set<Listener>();
  private closeListeners = new Set<(clean: boolean) => void>();
  readonly ready: Promise<void>;

  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ready = new Promise((resolve, reject) => {
      this.ws.addEventListener('open', () => resolve(), { once: true });
      this.ws.addEventListener('error', () => reject(new ApiError(0, 'WS_ERROR', 'Could not open the conversation socket')), {
        once: true,
      });
    });
    this.ws.addEventListener('message', (m) => {
      let ev: ConversationEvent;
      try {
        ev = JSON.parse(String(m.data)) as ConversationEvent;
      } catch {
        return;
      }
      for (const l of this.listeners) l(ev);
    });
    this.ws.addEventListener('close', (e) => {
      for (const l of this.closeListeners) l(e.wasClean);
    });
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  on(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onClose(listener: (clean: boolean) => void): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  send(content: string): void {
    this.ws.send(JSON.stringify({ type: 'message', content }));
  }

  ping(): void {
    this.ws.send(JSON.stringify({ type: 'ping' }));
  }

  close(): void {
    this.closeListeners.clear();
    this.ws.close(1000);
  }
}
