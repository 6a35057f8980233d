/* SPDX-License-Identifier: MIT */
/*
 * failpoints.h - every failpoint of the library, in one list.
 *
 * A failpoint is a named step inside a multi-step mutation of shared
 * memory: SHMAP_FAILPOINT("name") in the code. The failpoint copy of the
 * library (built with SHMAP_FAILPOINTS, linked only into tests) SIGKILLs
 * the process at the n-th hit of the failpoint named by the environment
 * (SHMAP_FAILPOINT=name:n), so a test can kill a writer at every step of
 * every protocol. Release builds compile them to nothing.
 *
 * SHMAP_FP(name, where the process dies). A name armed through the
 * environment that is not listed here aborts the process (a typo in a test
 * would otherwise silently never fire); tests/check-failpoints.py checks
 * that this list and the code agree and that some test arms every entry.
 */

/* segment creation and open (segment.c) */
SHMAP_FP("seg.build.before_size", "builder holds the builder lock; object not sized yet")
SHMAP_FP("seg.build.after_size", "object sized, header not written")
SHMAP_FP("seg.build.building", "header marked BUILDING with the new generation")
SHMAP_FP("seg.build.after_init", "structure initialised, header not READY")
SHMAP_FP("seg.build.before_ready", "checksum written, READY not stored")
SHMAP_FP("seg.open.after_open", "object opened and its type checked, header not read")
SHMAP_FP("seg.create.locked", "creator took the builder lock of a new object")
SHMAP_FP("seg.takeover.locked", "an opener took over a dead builder's lock")

/* hash table (htable.c, htable-scan.c) */
SHMAP_FP("htable.w.locked", "writer holds the key's home lock")
SHMAP_FP("htable.w.claimed", "writer claimed an empty bucket for a new key")
SHMAP_FP("htable.w.callback", "update callback about to run, lock held")
SHMAP_FP("htable.w.written", "value copied into the inactive slot, not published")
SHMAP_FP("htable.w.partial", "half of a key or value copied into its bucket or record, not published")
SHMAP_FP("htable.w.published", "new version published, lock held")
SHMAP_FP("htable.w.counted", "new entry published and counted, locks held")
SHMAP_FP("htable.w.done", "write finished, lock not yet released")
SHMAP_FP("htable.erase.tomb", "bucket turned into a tombstone, lock held")
SHMAP_FP("htable.cleanup.locked", "tombstone cleanup holds its locks")
SHMAP_FP("htable.cleanup.step", "one tombstone of a run turned empty")
SHMAP_FP("htable.clear.locked", "clear holds every lock")
SHMAP_FP("htable.clear.tombed", "clear turned every entry into a tombstone")
SHMAP_FP("htable.check.locked", "repairing checker holds every lock")

/* hash table, out-of-line records (htable-var.c) */
SHMAP_FP("htable.alloc.popped", "block popped off a free list, journalled in the intent slot")
SHMAP_FP("htable.alloc.bumped", "block cut from the area's top, journalled in the intent slot")
SHMAP_FP("htable.alloc.freed", "block pushed back on its free list")
SHMAP_FP("htable.alloc.grow", "allocated part of the record area about to grow")
SHMAP_FP("htable.w.linked", "new record linked into its bucket, version not published")

/* rings: attach (ring.c) */
SHMAP_FP("ring.attach.producer", "producer word taken, head not repaired")
SHMAP_FP("ring.attach.consumer", "SPSC consumer word taken, tail not repaired")
SHMAP_FP("ring.attach.rec", "consumer record claimed, not yet active")

/* SPSC ring (ring_spsc.c) */
SHMAP_FP("ring.spsc.push.copied", "element copied into its slot, not published")
SHMAP_FP("ring.spsc.push.published", "start word published, shared head not advanced")
SHMAP_FP("ring.spsc.pop.copied", "element copied out, tail not advanced")
SHMAP_FP("ring.spsc.pop.released", "tail advanced, producer not woken")

/* SPMC ring (ring_spmc.c, ring.c) */
SHMAP_FP("ring.spmc.push.copied", "element copied into its slot, not published")
SHMAP_FP("ring.spmc.push.published", "slot published, head not advanced")
SHMAP_FP("ring.spmc.pop.cas", "tail moved by this consumer, claim not yet marked in its record")
SHMAP_FP("ring.spmc.pop.claimed", "claim marked in the record")
SHMAP_FP("ring.spmc.pop.copied", "claimed elements copied out, slots not released")
SHMAP_FP("ring.spmc.pop.released", "slots given back, claim not cleared")
SHMAP_FP("ring.spmc.reap.freed", "a dead consumer's claimed slots freed, claim still named")
SHMAP_FP("ring.spmc.reap.won", "a dead consumer's claim taken by this reclaimer, loss not counted")
SHMAP_FP("ring.spmc.reap.cas", "one orphaned slot freed, loss not counted")

/* broadcast ring (ring_bcast.c) */
SHMAP_FP("ring.bcast.push.marked", "lossy: slot marked as being written")
SHMAP_FP("ring.bcast.push.copied", "element copied, not published")
SHMAP_FP("ring.bcast.push.published", "slots published, head not advanced")
SHMAP_FP("ring.bcast.pop.copied", "element copied out, subscriber cursor not advanced")

/* rings of records (ring_rec_spsc.c, ring_rec_spmc.c, ring_rec_bcast.c) */
SHMAP_FP("ring.rec.spsc.push.copied", "records written, next unit's word zeroed, not published")
SHMAP_FP("ring.rec.spsc.push.published", "first header published, head not advanced")
SHMAP_FP("ring.rec.spsc.pop.copied", "records copied out, tail not advanced")
SHMAP_FP("ring.rec.spsc.pop.released", "tail advanced")
SHMAP_FP("ring.rec.spmc.push.copied", "records written, next unit's word zeroed, not published")
SHMAP_FP("ring.rec.spmc.push.published", "first header published, head not advanced")
SHMAP_FP("ring.rec.spmc.pop.cas", "byte tail moved by this consumer, claim not marked")
SHMAP_FP("ring.rec.spmc.pop.claimed", "claim marked in the consumer's record")
SHMAP_FP("ring.rec.spmc.pop.copied", "claimed records copied out, not marked done")
SHMAP_FP("ring.rec.spmc.pop.released", "records marked done, claim not cleared")
SHMAP_FP("ring.rec.spmc.reap.freed", "a dead consumer's claimed records marked done, loss not counted")
SHMAP_FP("ring.rec.spmc.reap.cas", "one orphaned record marked done, loss not counted")
SHMAP_FP("ring.rec.bcast.push.marked", "lossy: the producer's write extent announced")
SHMAP_FP("ring.rec.bcast.push.copied", "records written, not published")
SHMAP_FP("ring.rec.bcast.push.published", "records published, head not advanced")
SHMAP_FP("ring.rec.bcast.pop.copied", "records copied out, subscriber cursor not advanced")

/* vector (vector.c) */
SHMAP_FP("vector.reserve.claimed", "first slot claimed, reserve counter not bumped")
SHMAP_FP("vector.reserve.bumped", "reserve counter bumped")
SHMAP_FP("vector.reserve.marked", "the other reserved slots marked with their owner")
SHMAP_FP("vector.push.half", "half the element written")
SHMAP_FP("vector.push.written", "element written, slot not published")
SHMAP_FP("vector.push.published", "slot published, watermark not advanced")
SHMAP_FP("vector.publish.partial", "first of several slots published")
SHMAP_FP("vector.publish.published", "every slot published, watermark not advanced")
SHMAP_FP("vector.replace.claimed", "replace claimed the slot, nothing written")
SHMAP_FP("vector.replace.half", "half the new element written")
SHMAP_FP("vector.replace.written", "new element written, slot not released")
SHMAP_FP("vector.recover.bumped", "recovery helped the dead claimer's reserve bump")
SHMAP_FP("vector.recover.slot", "recovery handled one slot of a dead reservation")
