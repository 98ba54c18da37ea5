package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Options configure Open.
type Options struct {
	// Timeout is how long Open waits for another gcbatch holding the file. Zero means 1 second:
	// long enough to ride out a process that is just exiting, short enough that a user is told
	// at once instead of staring at a hang.
	Timeout time.Duration
	// ReadOnly opens the file for reading (runs list/show) and shares it with other readers.
	ReadOnly bool
}

// Store is the state file: one bbolt database holding the runs, the row ledger, pending exports
// and the export budget. It is safe for use by many goroutines; writes should go through one
// writer goroutine that group-commits (see Committer), because every bbolt Update is an fsync.
type Store struct {
	db   *bolt.DB
	path string
	// ledger reads the ledger's pages for LookupRows with pread, through bbolt's descriptor.
	ledger *pageReader
}

// ErrLocked is returned (wrapped) when another process holds the state file.
var ErrLocked = errors.New("state file is in use by another gcbatch process")

// ErrDamaged is returned (wrapped) when the state file is not a readable gcbatch state file.
var ErrDamaged = errors.New("state file is damaged or not a gcbatch state file")

// ErrReadOnly is returned (wrapped) when the state file, or the folder it is to be made in,
// cannot be written: a read-only file system or file. It is not damage: the file is fine and
// must be kept.
var ErrReadOnly = errors.New("state file cannot be written")

// Open opens or creates the state file at path with mode 0600.
//
// A file that exists is checked whole before anything reads it through bbolt (verifyFile),
// and any damage (an emptied or cut file, changed bytes anywhere in the pages it uses) is
// ErrDamaged, never a crash: Open and every read and write of the store also run with
// debug.SetPanicOnFault and recover, so that a page that goes bad later is an error too.
// A new file is made whole under a temporary name and only then given its name, so gcbatch
// never leaves an empty or half-made state file behind, and an empty one is damage.
func Open(path string, opts Options) (st *Store, err error) {
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	// bbolt validates the meta pages, but a file damaged in just the wrong place can still make
	// it panic or fault while opening; turn that into the same clear error as any other damage.
	// The panic leaves bbolt's file open and locked; close it so that a later Open in this
	// process is not told the file is in use.
	var file *os.File
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if file != nil {
				file.Close()
			}
			st, err = nil, damaged(path, fmt.Errorf("%v", r))
		}
	}()
	info, statErr := os.Stat(path)
	switch {
	case statErr == nil && info.IsDir():
		// A folder is not damage: the advice to move it aside and lose the ledger would be wrong.
		return nil, fmt.Errorf("%s is a folder: --state takes the path of a file, such as %s", path, filepath.Join(path, "state.db"))
	case statErr == nil && info.Size() == 0:
		return nil, damaged(path, errors.New("the file is empty, and gcbatch never leaves an empty state file: it was emptied or cut to nothing"))
	case errors.Is(statErr, os.ErrNotExist) && !opts.ReadOnly:
		if err := create(path, opts.Timeout); err != nil {
			return nil, err
		}
	}
	// A file cut short (a full disk, a partial copy) can have valid meta pages that point past
	// its end; bbolt would map those pages and the first read would crash the process.
	if err := checkLength(path); err != nil {
		return nil, damaged(path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:  opts.Timeout,
		ReadOnly: opts.ReadOnly,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		},
	})
	if err != nil {
		switch {
		case errors.Is(err, bolterrors.ErrTimeout):
			return nil, fmt.Errorf("%s: %w (another import or export is running on it; wait for it to finish, or use --state to pick another file)", path, ErrLocked)
		case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrVersionMismatch),
			errors.Is(err, bolterrors.ErrChecksum), errors.Is(err, bolterrors.ErrInvalidMapping):
			return nil, damaged(path, err)
		case errors.Is(err, os.ErrNotExist) && opts.ReadOnly:
			return nil, fmt.Errorf("%s: no state file yet (nothing has run with this --state)", path)
		case isReadOnly(err) && !opts.ReadOnly:
			return nil, readOnly(path, err)
		}
		// A truncated file shows up as assorted I/O or mmap errors; anything bbolt cannot open
		// that is not a permission problem is treated as damage so the user gets the way out.
		return nil, damaged(path, err)
	}
	// Checked under bbolt's lock (no writer can be halfway through a commit), through bbolt's
	// own descriptor, before any page is read through the mapping.
	if info, err := file.Stat(); err != nil {
		db.Close()
		return nil, damaged(path, err)
	} else if err := verifyFile(file, info.Size()); err != nil {
		db.Close()
		return nil, damaged(path, err)
	}
	st = &Store{db: db, path: path, ledger: &pageReader{f: file}}
	if !opts.ReadOnly {
		if err := st.guardedUpdate(initBuckets); err != nil {
			db.Close()
			if isReadOnly(err) {
				return nil, readOnly(path, err)
			}
			return nil, damaged(path, err)
		}
		if err := st.sealLedger(); err != nil {
			db.Close()
			if isReadOnly(err) {
				return nil, readOnly(path, err)
			}
			return nil, err
		}
	}
	return st, nil
}

// initBuckets makes every bucket gcbatch uses (a no-op on a file that has them).
func initBuckets(tx *bolt.Tx) error {
	for _, b := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}

// create makes a new state file at path: built and synced under a temporary name in the same
// folder, then linked to its name, so that the name never shows a file that is empty or
// half-made (an empty state file is damage). If another process made the file first, that
// one is kept.
func create(path string, timeout time.Duration) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".new-*")
	if err != nil {
		if isReadOnly(err) {
			return readOnly(path, err)
		}
		return fmt.Errorf("cannot create the state file %s: %w", path, err)
	}
	name := tmp.Name()
	tmp.Close()
	defer os.Remove(name)
	db, err := bolt.Open(name, 0o600, &bolt.Options{Timeout: timeout})
	if err != nil {
		return fmt.Errorf("cannot create the state file %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := initBuckets(tx); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(metaLedgerFormat, []byte{ledgerFormatSealed})
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cannot create the state file %s: %w", path, err)
	}
	switch err := os.Link(name, path); {
	case err == nil, errors.Is(err, os.ErrExist):
		return nil
	default:
		// A file system without hard links: a rename is atomic too, only not exclusive.
		if _, serr := os.Stat(path); serr == nil {
			return nil
		}
		if err := os.Rename(name, path); err != nil {
			return fmt.Errorf("cannot create the state file %s: %w", path, err)
		}
		return nil
	}
}

// metaLedgerFormat names the meta bucket's record of the ledger's format.
var metaLedgerFormat = []byte("ledger-format")

// sealChunk bounds how many records one transaction of sealLedger rewrites.
const sealChunk = 10_000

// sealLedger brings a file written before ledger records had checksums to the sealed format:
// every record is rewritten with its checksum, a chunk per transaction (a kill in between
// leaves a file with both kinds, which reads fine and is finished by the next writer), and
// then the meta bucket records the format, after which a record without a checksum is damage.
func (s *Store) sealLedger() error {
	var format []byte
	if err := s.guardedView(func(tx *bolt.Tx) error {
		format = bytes.Clone(tx.Bucket(bucketMeta).Get(metaLedgerFormat))
		return nil
	}); err != nil {
		return err
	}
	if len(format) == 1 && format[0] == ledgerFormatSealed {
		return nil
	}
	var after []byte
	for {
		var last []byte
		err := s.guardedUpdate(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketLedger)
			c := b.Cursor()
			k, v := c.First()
			if after != nil {
				k, v = c.Seek(after)
			}
			type kv struct{ k, v []byte }
			var plain []kv
			for n := 0; k != nil && n < sealChunk; k, v = c.Next() {
				n++
				last = bytes.Clone(k)
				if v[0] == ledgerFormatPlain {
					nv := append([]byte(nil), v...)
					nv[0] = ledgerFormatSealed
					plain = append(plain, kv{bytes.Clone(k), seal(nv, 0, k)})
				}
			}
			if k == nil {
				last = nil
			}
			for _, r := range plain {
				if err := b.Put(r.k, r.v); err != nil {
					return err
				}
			}
			if last == nil {
				return tx.Bucket(bucketMeta).Put(metaLedgerFormat, []byte{ledgerFormatSealed})
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s: adding checksums to the ledger records of an older gcbatch: %w", s.path, err)
		}
		if last == nil {
			return nil
		}
		after = append(last, 0) // the next key after last
	}
}

// checkLength compares the size the newest valid meta page records with the file's length.
// Files without a valid meta page are left to bbolt, which reports them as invalid.
func checkLength(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil // missing (to be created) or unreadable: bbolt reports it
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || info.Size() == 0 {
		return nil
	}
	// Meta page 0 is at offset 0 and meta page 1 one page further; bbolt uses the valid one
	// with the higher transaction id.
	m0, ok0 := readMeta(f, 0)
	m1, ok1 := readMeta(f, int64(m0.pageSize))
	if !ok0 && !ok1 {
		return nil
	}
	newest := m0
	if !ok0 || ok1 && m1.txid > m0.txid {
		newest = m1
	}
	if need := newest.pages * uint64(newest.pageSize); need > uint64(info.Size()) {
		return fmt.Errorf("file is %d bytes but its contents need %d: it was cut short", info.Size(), need)
	}
	return nil
}

type boltMeta struct {
	pageSize                    uint32
	root, freelist, pages, txid uint64
}

// readMeta reads the meta page at off; ok reports a valid magic and checksum. pageSize is
// returned even when invalid, as a hint where meta page 1 is.
func readMeta(f *os.File, off int64) (m boltMeta, ok bool) {
	var buf [boltPageHeader + boltMetaSize]byte
	if _, err := f.ReadAt(buf[:], off); err != nil {
		return m, false
	}
	b, ne := buf[boltPageHeader:], binary.NativeEndian
	m = boltMeta{pageSize: ne.Uint32(b[8:]), root: ne.Uint64(b[16:]), freelist: ne.Uint64(b[32:]),
		pages: ne.Uint64(b[40:]), txid: ne.Uint64(b[48:])}
	if m.pageSize < 512 || m.pageSize > 1<<20 {
		m.pageSize = 0
		return m, false
	}
	h := fnv.New64a()
	h.Write(b[:56])
	return m, ne.Uint32(b) == boltMagic && h.Sum64() == ne.Uint64(b[56:])
}

// The parts of bbolt's on-disk format checkLength reads: a 16-byte page header, then the meta
// (magic, version, page size, flags, root bucket, freelist page, high-water page id, txid,
// checksum of the 56 bytes before it).
const (
	boltPageHeader = 16
	boltMetaSize   = 64
	boltMagic      = 0xED0CDAED
)

// isReadOnly reports whether err says the file or its file system cannot be written.
func isReadOnly(err error) bool {
	return errors.Is(err, syscall.EROFS) || errors.Is(err, os.ErrPermission)
}

func readOnly(path string, cause error) error {
	return fmt.Errorf("%s: %w (%v): gcbatch records every row's progress there before and after sending it, so it needs a writable file. "+
		"Make the file and its folder writable, or copy the file to a writable disk and point --state at the copy; "+
		"do not start a fresh state file instead: the rows this one has confirmed would be sent again", path, ErrReadOnly, cause)
}

// damaged is the error of every kind of damage: it names the file, says what was found and
// gives the way out with its price.
func damaged(path string, cause error) error {
	return fmt.Errorf("%s: %w (%w). Move it aside (mv %s %s.bad) to start with fresh state: imports will then resend rows the old file had confirmed, so only do it if you accept that", path, ErrDamaged, cause, path, path)
}

// Path returns the file the store was opened from.
func (s *Store) Path() string { return s.path }

// Close closes the file. Pending Committer writes must be flushed first.
func (s *Store) Close() error { return s.db.Close() }

// DB exposes the bbolt handle to the files of this package's siblings in the same package only;
// it is unexported on purpose elsewhere. (Kept as a method so tests can inspect raw contents.)
func (s *Store) bolt() *bolt.DB { return s.db }

// Bucket names. Every bucket a part of gcbatch uses is created when the file is opened, so
// readers never have to handle a missing bucket.
var (
	bucketRuns    = []byte("runs")
	bucketLedger  = []byte("ledger")
	bucketSeen    = []byte("seen")
	bucketExports = []byte("exports")
	bucketBudget  = []byte("budget")
	bucketCache   = []byte("cache")
	bucketMeta    = []byte("meta")
	allBuckets    = [][]byte{bucketRuns, bucketLedger, bucketSeen, bucketExports, bucketBudget, bucketCache, bucketMeta}
)

// guardedView runs fn in a read transaction. bbolt panics on a page that is not what its
// parent says it is, and a read outside the mapping faults; that can only be damage, so with
// debug.SetPanicOnFault (a setting of this goroutine only, restored on the way out) both
// become ErrDamaged instead of a crash.
// bbolt rolls the transaction back on the way out, so the file stays usable.
func (s *Store) guardedView(fn func(*bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = damaged(s.path, fmt.Errorf("%v", r))
		}
	}()
	return s.db.View(fn)
}

// guardedUpdate is guardedView for a write transaction.
func (s *Store) guardedUpdate(fn func(*bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = damaged(s.path, fmt.Errorf("%v", r))
		}
	}()
	return s.db.Update(fn)
}
