//! The allocator of the wasm artefacts: power-of-two size classes, each with a free list
//!
//! A machine's work is many short-lived small values (JSON nodes, header strings, form pairs)
//! allocated and freed in the same patterns again and again, in one thread. Serving those from a
//! free list per size class is a pop or a push; a general allocator (Talc, dlmalloc) splits and
//! merges blocks and keeps bins, which made it a tenth of a transcript replay through the
//! component (docs/performance.md). The cost is memory: a block is up to twice its request,
//! and a freed block is only reused for its own class. The high-water mark of a class is what the
//! instance keeps, which is small and bounded for a flow (response bodies are capped by the
//! request's `max_response_bytes`).
//!
//! The heap is generic over where fresh memory comes from, so the native tests drive it over an
//! ordinary buffer; the artefacts give it `memory.grow` (`core/src/wasm_runtime.rs`).

use core::alloc::Layout;
use core::ptr;

/// The smallest block: room for the free list's next pointer on any target
const MIN_BLOCK: usize = 16;
/// Blocks are aligned to their size up to this; larger alignments are refused (null)
pub(crate) const MAX_ALIGN: usize = 4096;
/// Size classes 16 B, 32 B, … up to half the address space
const CLASSES: usize = usize::BITS as usize - MIN_BLOCK.trailing_zeros() as usize;

/// Where fresh memory comes from: at least `bytes` more, contiguous, returned as its start and
/// length; `None` when there is no more
pub(crate) trait Grow {
    fn grow(&mut self, bytes: usize) -> Option<(usize, usize)>;
}

pub(crate) struct SizeClassHeap<G> {
    /// The head of each class's free list (0: empty); a free block holds the next head
    free: [usize; CLASSES],
    /// The untouched memory `[next, end)`, carved from the front
    next: usize,
    end: usize,
    grow: G,
}

/// The class of a layout and its block size, `None` when no class holds it
#[inline]
fn class_of(layout: Layout) -> Option<(usize, usize)> {
    if layout.align() > MAX_ALIGN {
        return None;
    }
    let block = layout
        .size()
        .max(layout.align())
        .max(MIN_BLOCK)
        .checked_next_power_of_two()?;
    let class = (block.trailing_zeros() - MIN_BLOCK.trailing_zeros()) as usize;
    (class < CLASSES).then_some((class, block))
}

impl<G: Grow> SizeClassHeap<G> {
    pub(crate) const fn new(grow: G) -> Self {
        Self {
            free: [0; CLASSES],
            next: 0,
            end: 0,
            grow,
        }
    }

    /// A block for `layout`, or null
    ///
    /// # Safety
    /// Every address the `Grow` returned must be memory this heap owns.
    #[inline]
    pub(crate) unsafe fn alloc(&mut self, layout: Layout) -> *mut u8 {
        let Some((class, block)) = class_of(layout) else {
            return ptr::null_mut();
        };
        let head = self.free[class];
        if head != 0 {
            // SAFETY: `head` is a free block of this class; its first word is the next head.
            self.free[class] = unsafe { (head as *const usize).read() };
            return head as *mut u8;
        }
        self.carve(block)
    }

    /// A fresh block of `block` bytes, aligned to its size (up to `MAX_ALIGN`)
    #[cold]
    fn carve(&mut self, block: usize) -> *mut u8 {
        let align = block.min(MAX_ALIGN);
        loop {
            if let Some(start) = self.next.checked_add(align - 1).map(|n| n & !(align - 1))
                && let Some(end) = start.checked_add(block)
                && end <= self.end
            {
                self.next = end;
                return start as *mut u8;
            }
            // What is left of the current region is too small: take more (enough for the
            // alignment too). When the new memory follows the old, the region just grows.
            let Some((at, len)) = block.checked_add(align).and_then(|n| self.grow.grow(n)) else {
                return ptr::null_mut();
            };
            if at != self.end {
                self.next = at;
            }
            // Saturating: on wasm32 a memory grown to the full 4 GiB ends just past `usize::MAX`.
            self.end = at.saturating_add(len);
        }
    }

    /// Returns a block to its class
    ///
    /// # Safety
    /// `ptr` came from this heap's `alloc`/`realloc` with this `layout`.
    #[inline]
    pub(crate) unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        // `alloc` gave out this layout's block, so it has a class.
        if let Some((class, _)) = class_of(layout) {
            // SAFETY: the block is at least `MIN_BLOCK` bytes, aligned for a usize, and ours now.
            unsafe { (ptr as *mut usize).write(self.free[class]) };
            self.free[class] = ptr as usize;
        }
    }

    /// Grows or shrinks a block: in place when the new size fits its block
    ///
    /// # Safety
    /// As `dealloc`, and `new_size` rounded up to `layout.align()` does not overflow.
    pub(crate) unsafe fn realloc(
        &mut self,
        ptr: *mut u8,
        layout: Layout,
        new_size: usize,
    ) -> *mut u8 {
        let Some((_, block)) = class_of(layout) else {
            return ptr::null_mut();
        };
        if new_size <= block {
            // The block has room; a later `dealloc` with the new size files it under a class
            // no larger than its own, which it satisfies in size and alignment.
            return ptr;
        }
        // SAFETY: the caller guarantees the new layout is valid.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: forwarded from the caller.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are ours, distinct, and at least `layout.size()` long.
            unsafe {
                ptr::copy_nonoverlapping(ptr, new, layout.size());
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// Fresh memory from one preallocated buffer, handed out in `step`-byte pieces so that the
    /// heap sees both a region that grows and one it cannot extend
    struct Arena {
        base: usize,
        used: usize,
        cap: usize,
        step: usize,
        /// Leave a gap before each piece: the next region does not follow the last
        gap: bool,
    }

    impl Grow for Arena {
        fn grow(&mut self, bytes: usize) -> Option<(usize, usize)> {
            let gap = if self.gap { 64 } else { 0 };
            let len = bytes.div_ceil(self.step) * self.step;
            if self.used + gap + len > self.cap {
                return None;
            }
            let at = self.base + self.used + gap;
            self.used += gap + len;
            Some((at, len))
        }
    }

    fn heap(buffer: &mut Vec<u8>, step: usize, gap: bool) -> SizeClassHeap<Arena> {
        // Page-aligned start, as linear memory is.
        let base = (buffer.as_mut_ptr() as usize + MAX_ALIGN - 1) & !(MAX_ALIGN - 1);
        let cap = buffer.capacity() - (base - buffer.as_mut_ptr() as usize);
        SizeClassHeap::new(Arena {
            base,
            used: 0,
            cap,
            step,
            gap,
        })
    }

    #[derive(Debug, Clone)]
    enum Op {
        Alloc { size: usize, align_log2: u32 },
        Free(prop::sample::Index),
        Realloc(prop::sample::Index, usize),
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        let size = prop_oneof![0usize..64, 0usize..5000];
        prop::collection::vec(
            prop_oneof![
                (size.clone(), 0u32..13)
                    .prop_map(|(size, align_log2)| Op::Alloc { size, align_log2 }),
                any::<prop::sample::Index>().prop_map(Op::Free),
                (any::<prop::sample::Index>(), size).prop_map(|(i, n)| Op::Realloc(i, n)),
            ],
            0..200,
        )
    }

    proptest! {
        /// Live blocks never overlap, keep their alignment and keep their bytes through realloc
        #[test]
        fn live_blocks_are_disjoint_aligned_and_keep_their_bytes(
            ops in ops(),
            step in prop_oneof![Just(65536usize), Just(256usize)],
            gap: bool,
        ) {
            let mut buffer: Vec<u8> = Vec::with_capacity(64 << 20);
            let mut heap = heap(&mut buffer, step, gap);
            // (address, layout, fill byte)
            let mut live: Vec<(usize, Layout, u8)> = Vec::new();
            let mut fill = 0u8;
            for op in ops {
                match op {
                    Op::Alloc { size, align_log2 } => {
                        let layout = Layout::from_size_align(size, 1 << align_log2).unwrap();
                        let p = unsafe { heap.alloc(layout) };
                        prop_assert!(!p.is_null());
                        prop_assert_eq!(p as usize % layout.align(), 0);
                        fill = fill.wrapping_add(1);
                        unsafe { p.write_bytes(fill, size) };
                        live.push((p as usize, layout, fill));
                    }
                    Op::Free(i) if !live.is_empty() => {
                        let (p, layout, _) = live.swap_remove(i.index(live.len()));
                        unsafe { heap.dealloc(p as *mut u8, layout) };
                    }
                    Op::Realloc(i, new_size) if !live.is_empty() => {
                        let i = i.index(live.len());
                        let (p, layout, byte) = live[i];
                        let q = unsafe { heap.realloc(p as *mut u8, layout, new_size) };
                        prop_assert!(!q.is_null());
                        prop_assert_eq!(q as usize % layout.align(), 0);
                        let kept = layout.size().min(new_size);
                        let bytes = unsafe { core::slice::from_raw_parts(q, kept) };
                        prop_assert!(bytes.iter().all(|b| *b == byte), "realloc lost bytes");
                        unsafe { q.add(kept).write_bytes(byte, new_size - kept) };
                        live[i] = (q as usize, Layout::from_size_align(new_size, layout.align()).unwrap(), byte);
                    }
                    _ => {}
                }
                let mut spans: Vec<(usize, usize)> =
                    live.iter().map(|(p, l, _)| (*p, *p + l.size())).collect();
                spans.sort();
                for w in spans.windows(2) {
                    prop_assert!(w[0].1 <= w[1].0, "blocks overlap: {:?}", w);
                }
                for (p, layout, byte) in &live {
                    let bytes = unsafe { core::slice::from_raw_parts(*p as *const u8, layout.size()) };
                    prop_assert!(bytes.iter().all(|b| b == byte), "a live block was overwritten");
                }
            }
        }
    }

    #[test]
    fn a_freed_block_serves_the_next_request_of_its_class() {
        let mut buffer: Vec<u8> = Vec::with_capacity(1 << 20);
        let mut heap = heap(&mut buffer, 65536, false);
        let small = Layout::from_size_align(20, 8).unwrap();
        let a = unsafe { heap.alloc(small) };
        unsafe { heap.dealloc(a, small) };
        let b = unsafe { heap.alloc(Layout::from_size_align(32, 4).unwrap()) };
        assert_eq!(a, b, "same class (32 B): the freed block is reused");
        let c = unsafe { heap.alloc(small) };
        assert_ne!(b, c);
    }

    #[test]
    fn refuses_what_it_cannot_serve() {
        let mut buffer: Vec<u8> = Vec::with_capacity(1 << 20);
        let mut heap = heap(&mut buffer, 65536, false);
        let huge_align = Layout::from_size_align(8, MAX_ALIGN * 2).unwrap();
        assert!(unsafe { heap.alloc(huge_align) }.is_null());
        let too_big = Layout::from_size_align(2 << 20, 8).unwrap();
        assert!(
            unsafe { heap.alloc(too_big) }.is_null(),
            "more than the arena holds"
        );
        // Still usable after a refusal.
        assert!(!unsafe { heap.alloc(Layout::from_size_align(100, 8).unwrap()) }.is_null());
    }
}
