// Shapes of the local /v1 API, as avatarium-server answers them (see
// crates/avatarium-server/src/handlers/*.rs and ../shared/spec).

export interface User {
  id: string;
  email: string;
  name: string;
  plan: string;
  isOwner: boolean;
  createdAt: string;
}

export interface Session {
  token: string;
  tokenType: 'Bearer';
  expiresAt: string;
  user: User;
}

export interface Me extends User {
  authenticatedWith: 'token' | 'apiKey';
  keyId: string | null;
}

/** A shipped 3D avatar model (GET /v1/avatars). */
export interface AvatarPreset {
  id: string;
  name: string;
  description: string;
  gender: string;
  style: string;
  file: string;
  format: string;
  voiceId: string;
  voiceGender: string;
  backgroundColor: string;
  tags: string[];
  modelUrl: string;
  thumbnailUrl: string | null;
}

export interface Persona {
  id: string;
  name: string;
  vertical: string;
  description: string;
  personality: string;
  traits: string[];
  tone: string;
  greeting: string;
  systemPrompt: string;
  suggestedAvatar: string;
  voiceGender: string;
  sampleQuestions: string[];
}

export type VoiceGender = 'female' | 'male' | 'neutral';
export type AvatarStatus = 'active' | 'paused';
export type QuizDifficulty = 'easy' | 'medium' | 'hard';

/** The settings and soul fields a creator may send (002). */
export interface AvatarSettings {
  tagline?: string | null;
  avatarPreset?: string | null;
  avatarModelUrl?: string | null;
  avatarBody?: 'F' | 'M' | null;
  avatarType?: 'interactive' | 'presenter' | '3d' | null;
  backgroundColor?: string | null;
  personality?: string | null;
  greeting?: string | null;
  traits?: string[] | null;
  tone?: string | null;
  quizMode?: boolean | null;
  quizDifficulty?: QuizDifficulty | null;
  customInstructions?: string | null;
  language?: string | null;
  personaId?: string | null;
  voiceGender?: VoiceGender | null;
  voiceId?: string | null;
  ttsProvider?: string | null;
  aiProvider?: string | null;
  aiModel?: string | null;
  voiceChatEnabled?: boolean | null;
  allowEmbedding?: boolean | null;
}

export interface AvatarInput extends AvatarSettings {
  slug?: string;
  name?: string;
  status?: AvatarStatus;
  isPublic?: boolean;
}

/** The owner's full view of a consumer avatar. */
export interface Avatar extends AvatarSettings {
  id: string;
  shortId: string;
  slug: string;
  name: string;
  status: AvatarStatus;
  isPublic: boolean;
  avatarType: 'interactive' | 'presenter' | '3d';
  avatarModelUrl: string | null;
  backgroundColor: string;
  traits: string[];
  voiceChatEnabled: boolean;
  allowEmbedding: boolean;
  quizMode: boolean;
  viewCount: number;
  conversationCount: number;
  systemPrompt: string;
  url: string;
  embedUrl: string;
  createdAt: string;
  updatedAt: string;
  knowledge?: KnowledgeItem[];
}

export interface KnowledgeItem {
  id: string;
  type: 'text' | 'url' | 'file';
  title: string;
  source: string | null;
  mime: string | null;
  chars: number;
  chunkCount: number;
  status: string;
  createdAt: string;
}

export interface DailyStat {
  date: string;
  views: number;
  conversations: number;
  messages: number;
  avgDurationSec: number | null;
}

export interface Analytics {
  avatarId: string;
  days: number;
  totals: { views: number; conversations: number; messages: number };
  latency: { count: number; p50: number | null; p95: number | null; avg: number | null };
  daily: DailyStat[];
  sessionDurations: {
    count: number;
    totalSec: number | null;
    avgSec: number | null;
    p50Sec: number | null;
    p95Sec: number | null;
    maxSec: number | null;
  };
  allTime: { views: number; conversations: number };
}

export interface Source {
  title: string;
  relevance?: number;
}

export interface ChatMessage {
  id: string;
  role: 'user' | 'assistant' | 'system';
  content: string;
  createdAt: string;
  emotion?: string;
  sources?: Source[];
  latencyMs?: number;
}

export interface ByokConfig {
  provider: string;
  apiKey: string;
  model?: string;
  baseUrl?: string;
}

export interface ConversationInput {
  avatarId?: string;
  provider?: string;
  model?: string;
  systemPrompt?: string;
  byokAI?: ByokConfig;
}

export interface Conversation {
  id: string;
  avatarId: string | null;
  wsUrl: string;
  createdAt: string;
  byokEnabled: boolean;
  provider: string;
  model: string;
  status: string;
}

/** Events on the conversation WebSocket (000). */
export type ConversationEvent =
  | { type: 'message'; data: ChatMessage }
  | { type: 'stream_start'; data: { conversationId: string } }
  | { type: 'stream_chunk'; data: string }
  | { type: 'stream_end'; data: ChatMessage }
  | { type: 'pong' }
  | { type: 'ended'; data: { conversationId: string } }
  | { type: 'error'; code: string; message: string };

export interface PublicAvatar {
  shortId: string;
  name: string;
  tagline: string | null;
  avatarModelUrl: string | null;
  avatarPreset: string | null;
  avatarBody: string | null;
  avatarType: string;
  backgroundColor: string;
  greeting: string | null;
  voiceGender: string | null;
  voiceId: string | null;
  ttsProvider: string | null;
  voiceChatEnabled: boolean;
  allowEmbedding: boolean;
  url: string;
  embedUrl: string;
}

export interface PublicSession {
  sessionId: string;
  greeting: string | null;
  startedAt: string;
}

export interface HistoryItem {
  role: 'user' | 'assistant';
  content: string;
}

export interface PublicReply {
  ttsText: string;
  displayText: string;
  emotion: string;
  sources: Source[];
  latency: { total: number; llm: number };
  sessionId: string;
  messageId: string;
}

export interface SessionSummary {
  sessionId: string;
  summary: string;
  topics: string[];
  sentiment: string;
  questionCount: number;
  messageCount: number;
  latency: { p50: number; p95: number; avg: number };
  durationSec: number | null;
  endedAt: string | null;
}

export interface ModelEntry {
  id: string;
  object: 'model';
  owned_by: string;
  provider: string;
  model: string;
  offline: boolean;
  default: boolean;
}

export interface AiProvider {
  id: string;
  name: string;
  kind: string;
  baseUrl: string;
  defaultModel: string;
  models: string[];
  offline: boolean;
  requiresKey: boolean;
  capabilities: { byok: boolean; embeddings: boolean; streaming: boolean; vision: boolean };
  configured: boolean;
  default: boolean;
  detected?: boolean;
}

export interface Voice {
  id: string;
  name: string;
  provider: string;
  language: string;
  gender: string | null;
  offline: boolean;
  configured: boolean;
}

export interface VisemeCue {
  viseme: string;
  /** Milliseconds from the start of the audio. */
  start: number;
  end: number;
}

export interface WordCue {
  word: string;
  start: number;
  end: number;
}

export interface Speech {
  /** Base64 WAV. */
  audio: string;
  format: 'wav';
  sampleRate: number;
  durationMs: number;
  visemes: VisemeCue[];
  words: WordCue[];
  provider: string;
  voiceId: string;
  visemeSource: string;
  latencyMs: number;
}

export interface TtsInput {
  text: string;
  voiceId?: string;
  provider?: string;
  speed?: number;
  pitch?: number;
  byokApiKey?: string;
}

export interface SttProvider {
  id: string;
  name: string;
  offline: boolean;
  requiresKey: boolean;
  available: boolean;
  latencyEstimateMs: number;
  wordTimestamps: boolean;
  languages?: string[];
  /** Installed whisper models (local provider only). */
  models?: string[];
}

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  tier: string;
  status: 'active' | 'revoked';
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface NewApiKey extends ApiKey {
  /** The full secret: in this response only. */
  key: string;
}

export interface Plan {
  id: string;
  name: string;
  description: string;
  priceMonthly: number | null;
  priceYearly: number | null;
  currency: string;
  avatarLimit: number | null;
  monthlySessionQuota: number | null;
  features: string[];
}

export interface Health {
  status: string;
  version: string;
  uptime: number;
  services: Record<string, string>;
}

// --- realtime avatar sessions (003) -----------------------------------------
// These endpoints answer bare JSON (no `data` wrapper) with snake_case keys.

export type StreamingQuality = 'low' | 'medium' | 'high';

export interface StreamingNewInput {
  /** low (256×256 at 15 fps), medium (512×512 at 25 fps) or high (768×768 at 30 fps). */
  quality?: StreamingQuality;
  /** A preset id, or one of your avatars (id or shortId). */
  avatar_id?: string;
  voice_id?: string;
  stt_provider?: string;
}

/** 003's ICE server entry, as RTCPeerConnection takes it. */
export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

export interface StreamingSession {
  session_id: string;
  ice_servers: IceServer[];
  /** Opens `/ws/{session_id}?token=…` and acts on this session only. */
  access_token: string;
}

export interface SessionDescription {
  type: 'offer' | 'answer';
  sdp: string;
}

export interface StreamingStarted {
  status: 'started';
  session_id: string;
  sdp: SessionDescription & { type: 'answer' };
}

export interface StreamingStopped {
  status: 'stopped';
  session_id: string;
  /** Seconds the session ran. */
  duration: number;
}

export interface StreamingSessionInfo {
  session_id: string;
  status: string;
  created_at: string;
  duration: number;
  quality: StreamingQuality;
  avatar_id: string;
  activity: string;
  connections: number;
}

export interface StreamingSessions {
  total: number;
  sessions: StreamingSessionInfo[];
}

export interface SpeakInput {
  session_id: string;
  text: string;
  voice_id?: string;
  /** `speed` (0.5–2) is honoured by every voice. */
  voice_settings?: { speed?: number; [k: string]: unknown };
}

export interface SpeakTask {
  task_id: string;
  status: 'processing' | 'completed' | 'interrupted' | 'failed';
  /** Seconds. */
  duration_estimate: number;
}

/** Events on the session WebSocket `/ws/{session_id}` (003). */
export type LiveEvent =
  | { type: 'status'; status: string; message?: string; session_id?: string }
  /** A base64 JPEG; only while no WebRTC peer is connected. */
  | { type: 'frame'; data: string; frame_id: number; timestamp: number }
  /** A base64 WAV of speech, sent when it is due to be heard. */
  | { type: 'audio'; data: string; duration: number; sample_rate: number; timestamp: number; text?: string; task_id?: string }
  | { type: 'chat'; role: 'user' | 'agent'; content: string; interrupted?: boolean; task_id?: string }
  | { type: 'error'; code: string; message: string }
  | { type: 'pong' };
