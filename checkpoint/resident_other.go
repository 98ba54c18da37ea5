//go:build !linux

package checkpoint

import bolt "go.etcd.io/bbolt"

// releaseMapped is a no-op where MADV_DONTNEED semantics on shared file mappings are not
// known to be the same as Linux's; see resident_linux.go.
func releaseMapped(*bolt.Tx) {}

// releaseResident is a no-op for the same reason.
func (s *Store) releaseResident() {}
