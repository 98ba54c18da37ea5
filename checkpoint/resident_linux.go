package checkpoint

import (
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// releaseResident drops the state file's memory-mapped pages from this process's resident set.
//
// bbolt reads the file through a read-only shared mapping. Ledger keys begin with a content
// hash, so every commit and every batch of lookups touches leaf pages all over the file, and
// each touched page stays in the process's RSS: a million-row ledger would make a million-row
// import look like a 200 MiB process although none of it is heap. MADV_DONTNEED on a shared
// file mapping only unmaps the pages from this process; the data stays in the kernel's page
// cache and the next access faults it back in, so this is safe at any moment no write
// transaction is remapping the file — which a read transaction guarantees (bbolt holds its
// mmap lock for reading while one is open). bbolt never writes through the mapping.
func (s *Store) releaseResident() {
	_ = s.db.View(func(tx *bolt.Tx) error {
		size := uintptr(tx.Size())
		if size == 0 {
			return nil
		}
		// A raw syscall keeps the mapping's address a uintptr: no unsafe.Pointer round trip.
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, s.db.Info().Data, size, unix.MADV_DONTNEED)
		return nil
	})
}
