//! What std would supply in the wasm artefacts: an allocator and a panic handler
//!
//! The core is `#![no_std]`; the component (`wasm32-wasip2`) and the wasm-bindgen module
//! (`wasm32-unknown-unknown`) are its final artefacts, so they must provide both. Without std
//! there is no panic message to print and nowhere to print it: a panic traps, and the host reports
//! the trap with the operation it was running (the profile already aborts on panic). This keeps
//! std's panic machinery, formatting of panic payloads and stdio out of the artefacts.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;

use crate::size_class_heap::{Grow, SizeClassHeap};

/// Fresh memory from `memory.grow`, a megabyte or more at a time
struct LinearMemory;

impl Grow for LinearMemory {
    fn grow(&mut self, bytes: usize) -> Option<(usize, usize)> {
        const PAGE: usize = 65536;
        let pages = bytes.div_ceil(PAGE).max(16);
        let old = core::arch::wasm32::memory_grow(0, pages);
        (old != usize::MAX).then(|| (old * PAGE, pages * PAGE))
    }
}

struct Allocator(UnsafeCell<SizeClassHeap<LinearMemory>>);

// SAFETY: the artefacts are built without atomics, so the program has one thread.
unsafe impl Sync for Allocator {}

#[global_allocator]
static ALLOCATOR: Allocator = Allocator(UnsafeCell::new(SizeClassHeap::new(LinearMemory)));

// SAFETY: one thread (above), and no call below re-enters the allocator, so each `&mut` to the
// heap is the only one while it lives; the heap hands out disjoint blocks of linear memory that
// `memory.grow` gave it and nothing else uses.
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { (*self.0.get()).alloc(layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { (*self.0.get()).dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        unsafe { (*self.0.get()).realloc(ptr, layout, new_size) }
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

/// `memcmp`, which WASI builds take from wasi-libc (linked by std) and `compiler_builtins` then
/// leaves out; `[u8]` comparisons call it. A byte loop: LLVM does not turn it back into a call.
#[cfg(target_os = "wasi")]
#[unsafe(no_mangle)]
unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i < n {
        // SAFETY: the caller passes two readable regions of `n` bytes (memcmp's contract).
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
        i += 1;
    }
    0
}

/// The component model's allocation entry point: the host calls it to place strings and lists in
/// guest memory. On `wasm32-wasip2` std defines it; without std the component defines its own.
/// (The canonical ABI never frees through it: `new_len` is never 0 for a live `old_ptr`.)
#[cfg(target_os = "wasi")]
#[unsafe(no_mangle)]
unsafe extern "C" fn cabi_realloc(
    old_ptr: *mut u8,
    old_len: usize,
    align: usize,
    new_len: usize,
) -> *mut u8 {
    use alloc::alloc::{Layout, alloc, realloc};
    if new_len == 0 {
        // A zero-sized value: any aligned, non-null pointer will do.
        return align as *mut u8;
    }
    // SAFETY: the canonical ABI passes a power-of-two `align` and sizes that fit the address
    // space, and an `old_ptr` that came from this function with `old_len` and `align`.
    let ptr = unsafe {
        if old_len == 0 {
            alloc(Layout::from_size_align_unchecked(new_len, align))
        } else {
            realloc(
                old_ptr,
                Layout::from_size_align_unchecked(old_len, align),
                new_len,
            )
        }
    };
    if ptr.is_null() {
        // Out of memory: trap, as std's version does, rather than hand the host a null pointer.
        core::arch::wasm32::unreachable()
    }
    ptr
}
