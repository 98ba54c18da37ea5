package checkpoint

import (
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// releaseMapped drops the state file's memory-mapped pages from this process's resident set.
// It must be called inside a transaction on the store (tx), read or write, and never after
// that transaction's Commit has started.
//
// bbolt reads the file through a read-only shared mapping. Ledger keys begin with a content
// hash, so commits and lookups touch leaf pages all over the file, and each touched page stays
// in the process's RSS: a million-row ledger would make a million-row import look like a
// 200 MiB process although none of it is heap. Worse, on a fault Linux maps the whole
// fault-around window (64 KiB, 16 pages) of cached neighbours, and a random key reaches a leaf
// and its parent branch in different windows: measured on this kernel, each key looked up in
// a 1,000,000-row ledger made 120-130 KiB resident; MADV_RANDOM (which bbolt already sets)
// does not change that.
//
// MADV_DONTNEED on a shared file mapping only unmaps the pages from this process; the data
// stays in the kernel's page cache and the next access faults it back in, the same bytes a
// mapping that was never released would show (bbolt never writes through the mapping; it
// writes with pwrite, which the mapping sees at once). So it is safe at any moment the
// mapping cannot move: bbolt remaps the file only while committing a write transaction that
// grows it, and never while a read transaction is open (it holds its mmap lock for reading)
// or before Commit of the writing transaction itself.
func releaseMapped(tx *bolt.Tx) {
	size := uintptr(tx.Size())
	if size == 0 {
		return
	}
	// A raw syscall keeps the mapping's address a uintptr: no unsafe.Pointer round trip.
	_, _, _ = unix.Syscall(unix.SYS_MADVISE, tx.DB().Info().Data, size, unix.MADV_DONTNEED)
}

// releaseResident is releaseMapped outside a transaction: it opens a read transaction so that
// no commit can remap the file meanwhile.
func (s *Store) releaseResident() {
	_ = s.db.View(func(tx *bolt.Tx) error {
		releaseMapped(tx)
		return nil
	})
}
