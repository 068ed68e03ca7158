//! Giving back the memory of the launch. Planning and starting a sandbox runs most of
//! mcpcell's code (the command line, the profile parsers, the planner, the sandbox's set-up):
//! about 3.5 MiB of the binary's pages become resident in the launching process (and in the
//! sandbox's init, a copy of it), while waiting for the server needs a few hundred KiB. Once
//! the server has run for [`AFTER`], both drop the binary's read-only pages from their page
//! tables: the pages stay in the page cache, and whatever is used again faults back in. The
//! supervisor also returns the allocator's free memory to the system.

use std::ffi::c_void;
use std::sync::OnceLock;

/// How long the server runs before its supervisor and its init give the launch's pages back.
/// A command that ends sooner never pays for the pages it would fault in again.
pub const AFTER: std::time::Duration = std::time::Duration::from_millis(100);

/// A page-aligned address range: `(start, length)`.
pub type Range = (usize, usize);

/// The executable's read-only segments (code and constant data). Writable segments are never
/// included: dropping a private page that was written would bring back the file's bytes.
/// Computed once; call it before forking so that a child only reads the result.
pub fn code_ranges() -> &'static [Range] {
    static RANGES: OnceLock<Vec<Range>> = OnceLock::new();
    RANGES.get_or_init(|| {
        let mut out: Vec<Range> = Vec::new();
        // SAFETY: the callback only reads the program headers it is given and pushes to the
        // vector passed as its data.
        unsafe { libc::dl_iterate_phdr(Some(read_only_segments), (&raw mut out).cast()) };
        out
    })
}

/// Drops this process's resident pages in `ranges` (from [`code_ranges`]). Only the
/// madvise system call: safe in a child forked from a threaded process.
pub fn drop_pages(ranges: &[Range]) {
    for &(start, len) in ranges {
        // SAFETY: a read-only, file-backed range of this executable: its pages read back from
        // the file exactly as they are now. A failure only leaves them resident.
        unsafe { libc::madvise(start as *mut c_void, len, libc::MADV_DONTNEED) };
    }
}

/// The supervisor, once the server runs: drops the launch's code pages and trims the heap.
/// Never inlined: `scripts/launch-order.sh` finds the moment by this function's name, and
/// lists what runs after it last, together.
#[inline(never)]
pub fn release_launch_pages() {
    drop_pages(code_ranges());
    // SAFETY: no pointers; keeps no padding at the top of the heap.
    unsafe { libc::malloc_trim(0) };
}

unsafe extern "C" fn read_only_segments(
    info: *mut libc::dl_phdr_info,
    _size: usize,
    data: *mut c_void,
) -> libc::c_int {
    // SAFETY: dl_iterate_phdr passes a valid entry whose program headers stay mapped, and
    // `data` is the vector code_ranges passed.
    let (info, out) = unsafe { (&*info, &mut *data.cast::<Vec<Range>>()) };
    // SAFETY: dlpi_phdr points at dlpi_phnum headers.
    let headers = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum.into()) };
    let page = page_size();
    for h in headers {
        if h.p_type != libc::PT_LOAD || h.p_flags & libc::PF_W != 0 {
            continue;
        }
        let start = (info.dlpi_addr as usize + h.p_vaddr as usize) & !(page - 1);
        let end =
            (info.dlpi_addr as usize + (h.p_vaddr + h.p_memsz) as usize).next_multiple_of(page);
        out.push((start, end - start));
    }
    // The first entry is the executable itself; libraries (and the vDSO) are not ours.
    1
}

fn page_size() -> usize {
    // SAFETY: sysconf with a constant name.
    match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as usize,
        _ => 4096,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static WRITTEN: AtomicUsize = AtomicUsize::new(7);

    fn resident_file_kib() -> usize {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("RssFile:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    #[test]
    fn only_read_only_segments_of_the_executable() {
        let ranges = code_ranges();
        assert!(!ranges.is_empty());
        let here = only_read_only_segments_of_the_executable as fn() as usize;
        assert!(
            ranges.iter().any(|&(s, l)| (s..s + l).contains(&here)),
            "this function's code is in {ranges:x?}"
        );
        let data = &raw const WRITTEN as usize;
        assert!(!ranges.iter().any(|&(s, l)| (s..s + l).contains(&data)));
    }

    #[test]
    fn written_data_survives_and_code_pages_go() {
        WRITTEN.store(42, Ordering::SeqCst);
        let heap = vec![3u8; 1 << 20];
        let before = resident_file_kib();
        release_launch_pages();
        let after = resident_file_kib();
        // Statics, the heap and the code still work as they did.
        assert_eq!(WRITTEN.load(Ordering::SeqCst), 42);
        assert!(heap.iter().all(|&b| b == 3));
        assert_eq!(format!("{:?}", vec![1, 2]), "[1, 2]");
        assert!(
            after < before,
            "file-backed resident set {before} KiB -> {after} KiB"
        );
    }
}
