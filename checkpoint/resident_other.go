//go:build !linux

package checkpoint

// releaseResident is a no-op where MADV_DONTNEED semantics on shared file mappings are not
// known to be the same as Linux's; see resident_linux.go.
func (s *Store) releaseResident() {}
