// Public exports of `token-budget/testing`: an offline OpenAI-compatible upstream for tests without an API key.
export { startOfflineUpstream } from './upstream';
export type {
  OfflineUpstream,
  OfflineUpstreamOptions,
  StagedToolCall,
  UpstreamBehaviour,
  UpstreamCall,
  UpstreamOutcome,
  UpstreamRequest,
} from './types';
