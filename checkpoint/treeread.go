package checkpoint

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// pageReader finds keys in one bucket's B+tree by reading its pages with pread instead of
// through bbolt's memory mapping. LookupRows uses it for the ledger: ledger keys begin with a
// content hash and bbolt scatters leaves over the file as it rewrites them, so a rerun touches
// one random leaf per row. Through the mapping each of those is a page fault (that maps a 64 KiB
// window and grows the RSS), and keeping the RSS bounded then meant handing the pages back
// and faulting them in again: a rerun over 200,000 confirmed rows spent 4 of its 6 seconds in
// those faults on our bench machine. One pread per key costs a fraction of that and leaves
// nothing resident: BenchmarkLookupRows went from 35.2 to 4.5 µs per key, and the rerun
// (make bench's resume_s) from 5.7 to 1.9 s.
//
// It is only used inside a read transaction (tx): bbolt does not reuse a page that an open
// transaction can reach, so the pages read here stay what they were when tx began. Branch
// pages are kept between lookups for as long as no commit has happened since (same tx ID);
// the last leaf is kept within one lookup, since keys come sorted and neighbours share leaves.
// The file was checked whole when it opened (verifyFile) and bbolt wrote every page since,
// but a page is still checked before use, so that a bad one is an error, not a wrong answer.
type pageReader struct {
	f        *os.File // bbolt's own descriptor of the state file
	mu       sync.Mutex
	txid     int
	pageSize int64
	branches map[uint64][]byte
	leafID   uint64
	leaf     []byte
}

// maxCachedBranches bounds the branch pages kept between lookups (4 MiB of 4 KiB pages): a
// ledger of a million rows has about a thousand.
const maxCachedBranches = 1024

// begin readies the reader for lookups in tx. It returns with r.mu held; end releases it.
func (r *pageReader) begin(tx *bolt.Tx) {
	r.mu.Lock()
	if r.txid != tx.ID() || r.branches == nil {
		r.txid, r.branches = tx.ID(), make(map[uint64][]byte)
	}
	r.pageSize = int64(tx.DB().Info().PageSize)
	r.leafID = 0 // a leaf may have been rewritten since the last lookup
}

func (r *pageReader) end() { r.mu.Unlock() }

// get returns the value stored under key in the tree whose root page is root, or nil. The
// value is valid until the next call.
func (r *pageReader) get(tx *bolt.Tx, root uint64, key []byte) ([]byte, error) {
	hwm := uint64(tx.Size() / r.pageSize)
	id := root
	for depth := 0; depth <= verifyMaxDepth; depth++ {
		p, err := r.page(id, hwm)
		if err != nil {
			return nil, err
		}
		pg, err := parsePage(p, id)
		if err != nil {
			return nil, err
		}
		// lo is the first element whose key is not below key.
		lo, hi := 0, pg.count
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			e, err := pg.elem(m)
			if err != nil {
				return nil, err
			}
			if bytes.Compare(e.key, key) < 0 {
				lo = m + 1
			} else {
				hi = m
			}
		}
		var e treeElem
		if lo < pg.count {
			if e, err = pg.elem(lo); err != nil {
				return nil, err
			}
		}
		exact := e.key != nil && bytes.Equal(e.key, key)
		if !pg.branch {
			if !exact {
				return nil, nil
			}
			if e.flags != 0 {
				return nil, fmt.Errorf("page %d: a nested bucket where a record belongs", id)
			}
			return e.val, nil
		}
		// bbolt descends into the last child whose first key is not above key.
		if !exact && lo > 0 {
			if e, err = pg.elem(lo - 1); err != nil {
				return nil, err
			}
		}
		id = e.child
	}
	return nil, fmt.Errorf("a tree deeper than %d levels", verifyMaxDepth)
}

// page returns page id with its overflow pages, from the cache or the file.
func (r *pageReader) page(id, hwm uint64) ([]byte, error) {
	if p, ok := r.branches[id]; ok {
		return p, nil
	}
	if id == r.leafID && r.leaf != nil {
		return r.leaf, nil
	}
	// A leaf is read into the buffer of the previous one (a rerun reads one per row); a branch
	// page gets its own, since it is kept.
	r.leafID = 0
	buf, err := readPage(r.f, r.leaf, id, hwm, r.pageSize)
	if err != nil {
		return nil, err
	}
	r.leaf = buf
	if binary.NativeEndian.Uint16(buf[8:]) == flagBranch {
		if len(r.branches) < maxCachedBranches {
			buf = bytes.Clone(buf)
			r.branches[id] = buf
		}
		return buf, nil
	}
	r.leafID = id
	return buf, nil
}

// treePage is one branch or leaf page as bbolt lays it out: a 16-byte header (id, flags,
// count, overflow), a table of 16-byte elements, then each element's key and value; an
// element's pos is relative to its own place in the table.
type treePage struct {
	p      []byte
	id     uint64
	branch bool
	count  int
}

// parsePage checks the header of a tree page read for page id (for an inline bucket's page, id
// is 0 and not checked).
func parsePage(p []byte, id uint64) (treePage, error) {
	if len(p) < boltPageHeader {
		return treePage{}, fmt.Errorf("page %d is %d bytes", id, len(p))
	}
	ne := binary.NativeEndian
	if got := ne.Uint64(p); id != 0 && got != id {
		return treePage{}, fmt.Errorf("page %d says it is page %d", id, got)
	}
	flags, count := ne.Uint16(p[8:]), int(ne.Uint16(p[10:]))
	if flags != flagBranch && flags != flagLeaf {
		return treePage{}, fmt.Errorf("page %d has type %#x where a tree page belongs", id, flags)
	}
	if flags == flagBranch && count == 0 {
		return treePage{}, fmt.Errorf("branch page %d is empty", id)
	}
	if boltPageHeader+count*elemSize > len(p) {
		return treePage{}, fmt.Errorf("page %d counts %d elements, more than it holds", id, count)
	}
	return treePage{p: p, id: id, branch: flags == flagBranch, count: count}, nil
}

// treeElem is one element of a tree page: its key, and its value and flags (a leaf) or its
// child page (a branch); at is where the key begins in the page.
type treeElem struct {
	key, val []byte
	child    uint64
	flags    uint32
	at       int
}

// elem returns element i, failing if its key or value lies outside the page.
func (pg treePage) elem(i int) (treeElem, error) {
	ne := binary.NativeEndian
	raw := pg.p[boltPageHeader+i*elemSize:]
	var e treeElem
	var pos, ksize, vsize uint32
	if pg.branch {
		pos, ksize, e.child = ne.Uint32(raw), ne.Uint32(raw[4:]), ne.Uint64(raw[8:])
	} else {
		e.flags, pos, ksize, vsize = ne.Uint32(raw), ne.Uint32(raw[4:]), ne.Uint32(raw[8:]), ne.Uint32(raw[12:])
	}
	at := uint64(boltPageHeader+i*elemSize) + uint64(pos)
	end := at + uint64(ksize) + uint64(vsize)
	if ksize == 0 || end > uint64(len(pg.p)) {
		return treeElem{}, fmt.Errorf("page %d: element %d lies outside the page", pg.id, i)
	}
	e.key, e.val, e.at = pg.p[at:at+uint64(ksize)], pg.p[at+uint64(ksize):end], int(at)
	return e, nil
}
