//! Where sealed transcripts live, behind one small interface: everything that reads or writes a
//! transcript's sealed bytes goes through [`TranscriptStorage`]. The database ([`Store`]: the
//! `transcripts` row and its `transcript_blobs`, written in one transaction) is the one
//! implementation today; an object store can implement the same three calls later (blobs under
//! their server, ticket and number, the row kept in the database).

use std::future::Future;

use crate::store::{ReplaceError, Store, StoreError, TranscriptRow};

/// A transcript's sealed blobs, by number (0: the document; then its kept files).
pub type SealedBlobs = Vec<(u32, Vec<u8>)>;

/// Storage for sealed transcripts.
pub trait TranscriptStorage: Sync {
    /// Stores a new transcript (replacing any earlier one of its ticket) with its blobs and the
    /// user IDs of everyone in it.
    fn put(
        &self,
        row: &TranscriptRow,
        blobs: &[(u32, Vec<u8>)],
        people: &[u64],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Rewrites a stored transcript if it is still at `row.revision` (its dates unchanged);
    /// blobs not given are deleted.
    fn replace(
        &self,
        row: &TranscriptRow,
        blobs: &[(u32, Vec<u8>)],
        people: &[u64],
    ) -> impl Future<Output = Result<(), ReplaceError>> + Send;

    /// The transcript of ticket `ticket_id` in server `guild_id`, with its sealed blobs.
    fn get(
        &self,
        guild_id: u64,
        ticket_id: i64,
    ) -> impl Future<Output = Result<Option<(TranscriptRow, SealedBlobs)>, StoreError>> + Send;
}

impl TranscriptStorage for Store {
    async fn put(
        &self,
        row: &TranscriptRow,
        blobs: &[(u32, Vec<u8>)],
        people: &[u64],
    ) -> Result<(), StoreError> {
        self.save_transcript(row, blobs, people).await
    }

    async fn replace(
        &self,
        row: &TranscriptRow,
        blobs: &[(u32, Vec<u8>)],
        people: &[u64],
    ) -> Result<(), ReplaceError> {
        self.replace_transcript(row, blobs, people).await
    }

    async fn get(
        &self,
        guild_id: u64,
        ticket_id: i64,
    ) -> Result<Option<(TranscriptRow, SealedBlobs)>, StoreError> {
        self.transcript(guild_id, ticket_id).await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;
    use crate::transcripts::model::{Asset, AssetId, Message, Participant, TicketInfo, Transcript};
    use crate::transcripts::seal::TranscriptKeys;
    use crate::transcripts::{CaptureLimits, Transcripts, FORMAT_VERSION};

    /// Another storage (an object store's stand-in): a map in memory.
    #[derive(Default)]
    struct InMemory(Mutex<HashMap<(u64, i64), (TranscriptRow, SealedBlobs)>>);

    impl TranscriptStorage for InMemory {
        async fn put(
            &self,
            row: &TranscriptRow,
            blobs: &[(u32, Vec<u8>)],
            _people: &[u64],
        ) -> Result<(), StoreError> {
            let mut map = self.0.lock().unwrap();
            map.insert((row.guild_id, row.ticket_id), (row.clone(), blobs.to_vec()));
            Ok(())
        }

        async fn replace(
            &self,
            row: &TranscriptRow,
            blobs: &[(u32, Vec<u8>)],
            people: &[u64],
        ) -> Result<(), ReplaceError> {
            Ok(self.put(row, blobs, people).await?)
        }

        async fn get(
            &self,
            guild_id: u64,
            ticket_id: i64,
        ) -> Result<Option<(TranscriptRow, SealedBlobs)>, StoreError> {
            Ok(self.0.lock().unwrap().get(&(guild_id, ticket_id)).cloned())
        }
    }

    #[tokio::test]
    async fn transcripts_work_on_any_storage_behind_the_interface() {
        let keys =
            TranscriptKeys::parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", &[]).unwrap();
        let limits = CaptureLimits {
            max_file_bytes: 1 << 20,
            max_total_bytes: 1 << 20,
        };
        let transcripts = Transcripts::new(keys, limits, 30);
        let transcript = Transcript {
            version: FORMAT_VERSION,
            guild_id: 1,
            guild_name: "S".into(),
            ticket: TicketInfo {
                number: 1,
                opener_id: 5,
                subject: None,
                opened_at: 0,
                closed_at: 1,
                closed_by: 5,
                close_reason: None,
                claimed_by: None,
            },
            participants: vec![Participant {
                id: 5,
                username: "u".into(),
                display_name: None,
                avatar: Some(AssetId(0)),
                bot: false,
            }],
            messages: vec![Message {
                id: 1,
                author_id: 5,
                content: "kept elsewhere".into(),
                sent_at: 0,
                edited_at: None,
                reply_to: None,
                embeds: Vec::new(),
                attachments: Vec::new(),
                mentions: Vec::new(),
                removed: false,
            }],
        };
        let assets = vec![Asset {
            id: AssetId(0),
            content_type: "image/png".into(),
            bytes: vec![1, 2, 3],
        }];
        let storage = InMemory::default();
        transcripts
            .save(&storage, 9, &transcript, &assets, None, 1_000)
            .await
            .unwrap();
        let (row, blobs) = storage.get(1, 9).await.unwrap().unwrap();
        assert_eq!(row.expires_at, 1_000 + 30 * 24 * 60 * 60 * 1000);
        assert_eq!(blobs.len(), 2);
        let (back, files) = transcripts.load(&storage, 1, 9).await.unwrap().unwrap();
        assert_eq!(back, transcript);
        assert_eq!(files, assets);
        assert!(transcripts.load(&storage, 2, 9).await.unwrap().is_none());
    }
}
