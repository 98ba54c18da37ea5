package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
)

// verifyFile checks the whole state file before bbolt is allowed to touch it, reading it with
// pread rather than through bbolt's memory mapping. bbolt checksums only its two meta pages:
// a damaged data page makes it read past the mapping (a SIGSEGV no recover catches), follow a
// branch back to its own ancestor (a stack overflow), or simply not find a row that is there,
// and a row the ledger cannot find is a row sent again. So every page the file uses is walked
// here once, as bbolt itself wrote it:
//
//   - every page below the high-water mark belongs to exactly one owner (a meta page, the
//     freelist, a free page, or one place in one tree): a pointer that was changed, a cycle,
//     a subtree cut off, an overflow count that grew or shrank, all break this;
//   - each page's header names the page itself and a leaf or branch type, and its elements
//     lie exactly where bbolt packs them (header, element table, then keys and values back to
//     back, the page exactly as long as its overflow says): a count or a size that changed
//     moves some element off its place, so no record can silently drop out of a page;
//   - keys are strictly ordered and within the bounds their branch gives them, so a lookup
//     finds every key that is stored;
//   - every bucket gcbatch makes is there, the ledger holds no nested buckets, and each ledger record
//     carries a CRC-32C of its key and value (checkRecord), so a changed byte of a key or a
//     value is found too.
//
// It costs one pread per page and one CRC per record (see BenchmarkVerify). Damage in the
// unused tail of a page or in a free page is not found, and does not matter: bbolt never
// reads those bytes.
func verifyFile(f *os.File, size int64) error {
	m0, ok0 := readMeta(f, 0)
	m1, ok1 := readMeta(f, int64(max(m0.pageSize, 4096)))
	if !ok0 && !ok1 {
		return nil // not a bbolt file at all: bbolt says so
	}
	m := m0
	if !ok0 || ok1 && m1.txid > m0.txid {
		m = m1
	}
	v := &verifier{f: f, pageSize: int64(m.pageSize), hwm: m.pages}
	if m.pages < 3 || int64(m.pages)*v.pageSize > size {
		return fmt.Errorf("its meta page counts %d pages of %d bytes in a file of %d bytes", m.pages, m.pageSize, size)
	}
	v.owned = make([]uint64, (m.pages+63)/64)
	v.own(0, 1)
	accountAll := m.freelist != noFreelist
	if accountAll {
		if err := v.freelist(m.freelist); err != nil {
			return err
		}
	}
	if err := v.tree(m.root, nil, nil, 0, true, nil); err != nil {
		return err
	}
	if err := v.checkBuckets(); err != nil {
		return err
	}
	if err := v.checkFormat(); err != nil {
		return err
	}
	if accountAll {
		for id := uint64(0); id < m.pages; id++ {
			if v.owned[id/64]&(1<<(id%64)) == 0 {
				return fmt.Errorf("page %d is neither in use nor free", id)
			}
		}
	}
	return nil
}

// noFreelist is the freelist page id of a file written without a freelist (bbolt's
// NoFreelistSync); gcbatch never writes one, but such a file is still walked.
const noFreelist = ^uint64(0)

// verifyMaxDepth bounds the trees walked: a B+tree of a few levels holds millions of rows, so a
// deeper one is damage.
const verifyMaxDepth = 24

type verifier struct {
	f        *os.File
	pageSize int64
	hwm      uint64
	owned    []uint64 // one bit per page
	buf      []byte
	bufs     [verifyMaxDepth + 2][]byte // one page buffer per tree level
	// format is the ledger format the meta bucket records (0: none recorded); unsealed
	// counts ledger records of the old format, without a checksum.
	format   byte
	unsealed int
	buckets  [][]byte
	current  []byte // the bucket being walked
	records  int
}

// own marks pages first..last as used, failing on a page used twice or past the end.
func (v *verifier) own(first, last uint64) error {
	if last < first || last >= v.hwm {
		return fmt.Errorf("pages %d..%d lie past the file's last page %d", first, last, v.hwm-1)
	}
	for id := first; id <= last; id++ {
		w, bit := &v.owned[id/64], uint64(1)<<(id%64)
		if *w&bit != 0 {
			return fmt.Errorf("page %d is used twice", id)
		}
		*w |= bit
	}
	return nil
}

// page reads page id with its overflow pages into the buffer of tree level depth, valid until
// the next page of that level is read.
func (v *verifier) page(id uint64, depth int) ([]byte, error) {
	buf, err := readPage(v.f, v.bufs[depth], id, v.hwm, v.pageSize)
	if err != nil {
		return nil, err
	}
	v.bufs[depth] = buf
	if err := v.own(id, id+uint64(len(buf))/uint64(v.pageSize)-1); err != nil {
		return nil, err
	}
	return buf, nil
}

// readPage reads page id with its overflow pages into buf (grown as needed) and returns it,
// failing on an id outside the file's pages 2..hwm-1, on a page whose header names another
// page, and on overflow past the end. The verifier and the ledger's pageReader read pages
// this one way.
func readPage(f *os.File, buf []byte, id, hwm uint64, pageSize int64) ([]byte, error) {
	if id < 2 || id >= hwm {
		return nil, fmt.Errorf("a pointer to page %d, outside the file's pages 2..%d", id, hwm-1)
	}
	buf = slices.Grow(buf[:0], int(pageSize))[:pageSize]
	if _, err := f.ReadAt(buf, int64(id)*pageSize); err != nil {
		return nil, fmt.Errorf("reading page %d: %w", id, err)
	}
	ne := binary.NativeEndian
	if got := ne.Uint64(buf); got != id {
		return nil, fmt.Errorf("page %d says it is page %d", id, got)
	}
	overflow := uint64(ne.Uint32(buf[12:]))
	if overflow >= hwm-id {
		return nil, fmt.Errorf("page %d runs %d pages past the end of the file", id, overflow)
	}
	if overflow > 0 {
		n := (1 + overflow) * uint64(pageSize)
		buf = slices.Grow(buf, int(n)-len(buf))[:n]
		if _, err := f.ReadAt(buf[pageSize:], int64(id)*pageSize+pageSize); err != nil {
			return nil, fmt.Errorf("reading page %d: %w", id, err)
		}
	}
	return buf, nil
}

const (
	flagBranch   = 0x01
	flagLeaf     = 0x02
	flagFreelist = 0x10
	elemSize     = 16 // a branch element (pos, ksize, pgid) and a leaf element (flags, pos, ksize, vsize)
)

func (v *verifier) freelist(id uint64) error {
	p, err := v.page(id, 0)
	if err != nil {
		return fmt.Errorf("freelist: %w", err)
	}
	ne := binary.NativeEndian
	if flags := ne.Uint16(p[8:]); flags != flagFreelist {
		return fmt.Errorf("freelist page %d has type %#x", id, flags)
	}
	count, at := uint64(ne.Uint16(p[10:])), uint64(boltPageHeader)
	if count == 0xFFFF {
		count, at = ne.Uint64(p[at:]), at+8
	}
	if count > uint64(len(p)-int(at))/8 {
		return fmt.Errorf("freelist page %d lists %d pages, more than it holds", id, count)
	}
	ids := make([]uint64, count) // copied: reading the pages below reuses the buffer
	for i := range ids {
		ids[i] = ne.Uint64(p[at+uint64(i)*8:])
	}
	for _, free := range ids {
		if free < 2 {
			return fmt.Errorf("the freelist frees meta page %d", free)
		}
		if err := v.own(free, free); err != nil {
			return fmt.Errorf("freelist: %w", err)
		}
	}
	return nil
}

// tree walks the pages of one bucket's tree (or the root bucket's, root set) from page id,
// whose keys must lie in [lo, hi) (nil: unbounded). For an inline bucket id is 0 and inline
// holds its page.
func (v *verifier) tree(id uint64, lo, hi []byte, depth int, root bool, inline []byte) error {
	if depth > verifyMaxDepth {
		return fmt.Errorf("a tree deeper than %d levels at page %d", verifyMaxDepth, id)
	}
	var p []byte
	if inline != nil {
		p = inline
	} else {
		var err error
		if p, err = v.page(id, depth); err != nil {
			return err
		}
	}
	pg, err := parsePage(p, id)
	if err != nil {
		return err
	}
	// Elements must lie back to back after the element table, in element order: a count or a
	// size that changed moves some element off its place.
	off := boltPageHeader + pg.count*elemSize
	type child struct {
		id  uint64
		key []byte
	}
	var children []child
	prev := lo
	for i := range pg.count {
		e, err := pg.elem(i)
		if err != nil {
			return err
		}
		if e.at != off {
			return fmt.Errorf("page %d: element %d is not where it belongs", id, i)
		}
		key := e.key
		off += len(e.key) + len(e.val)
		if i > 0 && bytes.Compare(prev, key) >= 0 || i == 0 && prev != nil && bytes.Compare(prev, key) > 0 {
			return fmt.Errorf("page %d: key %d is out of order", id, i)
		}
		if hi != nil && bytes.Compare(key, hi) >= 0 {
			return fmt.Errorf("page %d: key %d lies beyond its branch", id, i)
		}
		prev = key
		if pg.branch {
			children = append(children, child{e.child, key})
			continue
		}
		if err := v.record(id, root, e.flags, key, e.val, depth); err != nil {
			return err
		}
	}
	// The page is exactly as long as bbolt made it: one page per pageSize bytes it needs.
	if inline != nil {
		if off != len(p) {
			return fmt.Errorf("an inline bucket's page is %d bytes, its elements %d", len(p), off)
		}
	} else if need := (int64(off) + v.pageSize - 1) / v.pageSize; int64(len(p))/v.pageSize != need {
		return fmt.Errorf("page %d spans %d pages but its elements need %d", id, int64(len(p))/v.pageSize, need)
	}
	for i, c := range children {
		clo, chi := c.key, hi
		if i == 0 {
			clo = lo
		}
		if i+1 < len(children) {
			chi = children[i+1].key
		}
		if err := v.tree(c.id, clo, chi, depth+1, root, nil); err != nil {
			return err
		}
	}
	return nil
}

// record checks one leaf element: in the root tree a bucket of gcbatch's; in the ledger a
// record with its checksum (the ledger holds no nested buckets); elsewhere a record or a
// nested bucket (budget and exports keep one per account).
func (v *verifier) record(page uint64, root bool, eflags uint32, key, val []byte, depth int) error {
	const bucketFlag = 0x01
	switch {
	case root:
		if eflags != bucketFlag {
			return fmt.Errorf("page %d: a top-level entry that is not a bucket", page)
		}
		// A bucket this version does not create (a later version's, or one made only when
		// needed) is walked like any other; a damaged name shows as one of gcbatch's own
		// buckets missing (checkBuckets).
		v.buckets = append(v.buckets, bytes.Clone(key))
		v.current = bytes.Clone(key)
		defer func() { v.current = nil }()
		return v.bucket(key, val, depth)
	case eflags == 0:
		v.records++
		return v.check(key, val)
	case eflags == bucketFlag && !bytes.Equal(v.current, bucketLedger):
		return v.bucket(key, val, depth)
	}
	return fmt.Errorf("page %d: an entry with flags %#x in bucket %q", page, eflags, v.current)
}

// bucket walks the tree of the bucket whose header is val: at its root page, or inline in val.
func (v *verifier) bucket(name, val []byte, depth int) error {
	if len(val) < 16 {
		return fmt.Errorf("bucket %q: a header of %d bytes", name, len(val))
	}
	if root := binary.NativeEndian.Uint64(val); root != 0 {
		return v.tree(root, nil, nil, depth+1, false, nil)
	}
	if len(val) < 16+boltPageHeader {
		return fmt.Errorf("bucket %q: an inline page too short", name)
	}
	return v.tree(0, nil, nil, depth+1, false, bytes.Clone(val[16:]))
}

// check verifies one record of the bucket being walked.
func (v *verifier) check(key, val []byte) error {
	switch {
	case bytes.Equal(v.current, bucketLedger):
		sealed, err := checkRecord(key, val)
		if err != nil {
			return fmt.Errorf("ledger record %d: %w", v.records, err)
		}
		if !sealed {
			v.unsealed++
		}
	case bytes.Equal(v.current, bucketMeta) && bytes.Equal(key, metaLedgerFormat):
		if len(val) != 1 || val[0] != ledgerFormatSealed {
			return fmt.Errorf("the ledger format record holds %x", val)
		}
		v.format = val[0]
	}
	return nil
}

// checkFormat fails when the file says its ledger records are sealed but some are not: a
// format byte that changed would otherwise make a record skip its checksum.
func (v *verifier) checkFormat() error {
	if v.format == ledgerFormatSealed && v.unsealed > 0 {
		return fmt.Errorf("%d ledger records: %w", v.unsealed, errNotSealed)
	}
	return nil
}

// checkBuckets fails when a bucket every gcbatch file of the current format has is missing: a
// changed byte in a bucket's name would otherwise make bbolt create an empty one, and an empty
// ledger sends every row again.
func (v *verifier) checkBuckets() error {
	if len(v.buckets) == 0 {
		return nil // created by bbolt, but the process ended before gcbatch made its buckets
	}
	for _, b := range allBuckets {
		if !slices.ContainsFunc(v.buckets, func(x []byte) bool { return bytes.Equal(x, b) }) {
			return fmt.Errorf("its %q bucket is missing", b)
		}
	}
	return nil
}

var errNotSealed = errors.New("a record without its checksum in a file whose records all have one")
