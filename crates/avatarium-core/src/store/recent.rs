//! The recent history of the conversations this process is serving, kept in
//! memory so that a chat turn does not wait on a database read before it can
//! call the model.
//!
//! Every turn reads its conversation and last messages, and SQLite drops a
//! read connection's page cache whenever the file has changed, which under
//! load is every time: the read is a thread round trip to a cold cache on
//! each turn. This process's own writer knows every change it makes, so it
//! keeps the cache current instead:
//!
//! - messages are appended as their batch commits, before any caller hears
//!   that they are stored, so a caller reads its own writes;
//! - ending a conversation forgets it, and deleting an avatar (whose
//!   conversations cascade away) forgets everything;
//! - a read fills the cache only if no write landed while it ran (an epoch
//!   bumped by every write), so a snapshot older than a write never
//!   replaces what the write left;
//! - another process's commit (seen by the writer as SQLite's
//!   `data_version` moving) forgets everything at the writer's next commit.
//!   Only the server writes conversations (the CLI writes API keys), so
//!   this is for two servers sharing one data directory, and bounds what
//!   such a pair can miss to the turn before that commit.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::model::{ConversationRecord, MessageRecord};

/// Conversations kept; the least recently used goes first.
const CAPACITY: usize = 1024;
/// Bytes of message text kept in all, so a few long threads cannot make
/// the cache large.
const BUDGET_BYTES: usize = 16 << 20;

pub(crate) struct RecentCache {
    inner: Mutex<Inner>,
    capacity: usize,
    budget: usize,
}

#[derive(Default)]
struct Inner {
    /// Bumped by every write that can change what a read finds.
    epoch: u64,
    /// A use counter, for least-recently-used eviction.
    clock: u64,
    bytes: usize,
    entries: HashMap<String, Entry>,
}

struct Entry {
    conversation: ConversationRecord,
    /// The newest `depth` messages (or all, when there are fewer), in the
    /// store's order: by `created_at`, then by insertion.
    messages: VecDeque<MessageRecord>,
    depth: usize,
    bytes: usize,
    used: u64,
}

fn size(m: &MessageRecord) -> usize {
    m.content.len() + m.sources.as_ref().map_or(0, String::len) + 128
}

impl Default for RecentCache {
    fn default() -> Self {
        Self::new(CAPACITY, BUDGET_BYTES)
    }
}

impl RecentCache {
    pub(crate) fn new(capacity: usize, budget: usize) -> Self {
        Self {
            inner: Mutex::default(),
            capacity,
            budget,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every critical section leaves the map consistent, so a panic
        // elsewhere while holding it poisons nothing that matters.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Taken before a read whose result may go to [`RecentCache::fill`].
    pub(crate) fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// The conversation and its newest `limit` messages, oldest first, if
    /// kept for this account with at least that many.
    pub(crate) fn get(
        &self,
        account_id: &str,
        id: &str,
        limit: usize,
    ) -> Option<(ConversationRecord, Vec<MessageRecord>)> {
        let mut inner = self.lock();
        inner.clock += 1;
        let clock = inner.clock;
        let e = inner.entries.get_mut(id)?;
        if e.conversation.account_id != account_id || limit > e.depth {
            return None;
        }
        e.used = clock;
        let skip = e.messages.len().saturating_sub(limit);
        Some((
            e.conversation.clone(),
            e.messages.iter().skip(skip).cloned().collect(),
        ))
    }

    /// Keeps what a read found, unless a write landed since `epoch`.
    /// `messages` are the newest `depth` (all, if fewer), oldest first.
    pub(crate) fn fill(
        &self,
        epoch: u64,
        conversation: &ConversationRecord,
        messages: &[MessageRecord],
        depth: usize,
    ) {
        let mut inner = self.lock();
        if inner.epoch != epoch {
            return;
        }
        inner.clock += 1;
        let entry = Entry {
            conversation: conversation.clone(),
            messages: messages.iter().cloned().collect(),
            depth,
            bytes: messages.iter().map(size).sum(),
            used: inner.clock,
        };
        if entry.bytes > self.budget {
            return;
        }
        inner.bytes += entry.bytes;
        if let Some(old) = inner.entries.insert(conversation.id.clone(), entry) {
            inner.bytes -= old.bytes;
        }
        self.shrink(&mut inner);
    }

    fn shrink(&self, inner: &mut Inner) {
        while inner.entries.len() > self.capacity || inner.bytes > self.budget {
            let Some(oldest) = inner
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            let gone = inner.entries.remove(&oldest).expect("just found");
            inner.bytes -= gone.bytes;
        }
    }

    /// Messages just committed, in commit order.
    pub(crate) fn stored(&self, records: &[&MessageRecord]) {
        let mut inner = self.lock();
        let Inner {
            epoch,
            bytes,
            entries,
            ..
        } = &mut *inner;
        *epoch += 1;
        for m in records {
            let Some(e) = m.conversation_id.as_ref().and_then(|c| entries.get_mut(c)) else {
                continue;
            };
            // A read that began just after the commit, and filled the cache
            // before this call, already holds it.
            if e.messages.iter().any(|k| k.id == m.id) {
                continue;
            }
            // After every message that sorts before or with it: ties keep
            // insertion order, as the store's `ORDER BY created_at, rowid`.
            let at = e
                .messages
                .iter()
                .rposition(|k| k.created_at <= m.created_at)
                .map_or(0, |i| i + 1);
            e.messages.insert(at, (*m).clone());
            e.bytes += size(m);
            *bytes += size(m);
            while e.messages.len() > e.depth {
                let old = e.messages.pop_front().expect("longer than depth");
                e.bytes -= size(&old);
                *bytes -= size(&old);
            }
        }
        self.shrink(&mut inner);
    }

    /// After a write to one conversation's row.
    pub(crate) fn forget(&self, id: &str) {
        let mut inner = self.lock();
        inner.epoch += 1;
        if let Some(e) = inner.entries.remove(id) {
            inner.bytes -= e.bytes;
        }
    }

    /// After a write that may touch any conversation.
    pub(crate) fn clear(&self) {
        let mut inner = self.lock();
        inner.epoch += 1;
        inner.entries.clear();
        inner.bytes = 0;
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(id: &str) -> ConversationRecord {
        ConversationRecord {
            id: id.into(),
            account_id: "acct".into(),
            avatar_id: None,
            consumer_avatar_id: None,
            provider: "local".into(),
            model: "m".into(),
            system_prompt: String::new(),
            byok: false,
            source: "api".into(),
            metadata: None,
            status: "active".into(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            ended_at: None,
        }
    }

    fn msg(conv: &str, id: &str, at: u32) -> MessageRecord {
        MessageRecord {
            id: id.into(),
            conversation_id: Some(conv.into()),
            session_id: None,
            role: "user".into(),
            content: format!("text {id}"),
            emotion: None,
            sources: None,
            latency_ms: None,
            llm_ms: None,
            created_at: format!("2026-01-01T00:00:{at:02}.000Z"),
        }
    }

    fn ids(m: &[MessageRecord]) -> Vec<&str> {
        m.iter().map(|m| m.id.as_str()).collect()
    }

    #[test]
    fn keeps_the_newest_messages_in_store_order() {
        let c = RecentCache::default();
        let e = c.epoch();
        c.fill(e, &conv("a"), &[msg("a", "1", 1), msg("a", "2", 2)], 3);
        let (m3, m4, early) = (msg("a", "3", 3), msg("a", "4", 3), msg("a", "0", 2));
        c.stored(&[&m3, &m4]);
        assert_eq!(ids(&c.get("acct", "a", 3).unwrap().1), ["2", "3", "4"]);
        // Stamped before the last two but committed after them: it sorts
        // among them, and the oldest drops out.
        c.stored(&[&early]);
        assert_eq!(ids(&c.get("acct", "a", 3).unwrap().1), ["0", "3", "4"]);
        assert_eq!(ids(&c.get("acct", "a", 1).unwrap().1), ["4"]);
        // Deeper than what is kept, or another account: the store answers.
        assert!(c.get("acct", "a", 4).is_none());
        assert!(c.get("other", "a", 3).is_none());
        // A message already there (read after its commit) is not doubled.
        c.stored(&[&m4]);
        assert_eq!(ids(&c.get("acct", "a", 3).unwrap().1), ["0", "3", "4"]);
    }

    #[test]
    fn a_read_older_than_a_write_is_not_kept() {
        let c = RecentCache::default();
        let before = c.epoch();
        let m = msg("a", "1", 1);
        c.stored(&[&m]);
        c.fill(before, &conv("a"), &[], 20);
        assert!(c.get("acct", "a", 20).is_none());
        let after = c.epoch();
        c.fill(after, &conv("a"), &[m], 20);
        assert_eq!(ids(&c.get("acct", "a", 20).unwrap().1), ["1"]);
        c.forget("a");
        assert!(c.get("acct", "a", 20).is_none());
    }

    #[test]
    fn evicts_the_least_recently_used_within_its_bounds() {
        let c = RecentCache::new(2, 1 << 20);
        for id in ["a", "b"] {
            let e = c.epoch();
            c.fill(e, &conv(id), &[], 20);
        }
        assert!(c.get("acct", "a", 20).is_some());
        let e = c.epoch();
        c.fill(e, &conv("c"), &[], 20);
        assert!(
            c.get("acct", "b", 20).is_none(),
            "b was used least recently"
        );
        assert!(c.get("acct", "a", 20).is_some() && c.get("acct", "c", 20).is_some());

        let small = RecentCache::new(10, 3 * size(&msg("a", "1", 1)));
        let e = small.epoch();
        small.fill(e, &conv("a"), &[msg("a", "1", 1), msg("a", "2", 2)], 20);
        let e = small.epoch();
        small.fill(e, &conv("b"), &[msg("b", "3", 1)], 20);
        assert_eq!(small.len(), 2);
        // Growing past the byte budget lets the least recently used go.
        let grow = msg("b", "4", 2);
        small.stored(&[&grow]);
        assert_eq!(small.len(), 1);
        assert!(small.get("acct", "a", 20).is_none());
        assert_eq!(ids(&small.get("acct", "b", 20).unwrap().1), ["3", "4"]);
        c.clear();
        assert_eq!(c.len(), 0);
    }
}
