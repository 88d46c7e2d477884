//! `serin apply` on the local platform: the three-way merge of `serin_gitops::apply`, written
//! into the store inside the caller's transaction.

use crate::store::Writer;
pub use serin_gitops::apply::*;
use serin_model::Time;

/// Applies one manifest inside a transaction: merged into the live object, written unless
/// nothing changed.
pub fn apply_manifest(w: &mut Writer<'_>, manifest: &Manifest, now: Time) -> crate::store::Result<Outcome> {
    let live = w.get(&manifest.key)?;
    let (merged, outcome) = merge(live.as_ref().map(|l| &*l.body), &manifest.body, &crate::objects::new_uid(), now);
    if outcome != Outcome::Unchanged {
        w.put(&manifest.key, &merged, live.map(|l| l.rev))?;
    }
    Ok(outcome)
}
