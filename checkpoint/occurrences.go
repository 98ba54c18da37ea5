package checkpoint

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"iter"
	"maps"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// Occurrences numbers the rows of one file that have the same content: Next returns 0 the
// first time it sees a hash, 1 the second time, and so on. The answer is exact, and memory does
// not grow with the file:
//
//   - a Bloom filter (16 bits a row the run expects, at most 4 MiB) answers "certainly new"
//     for most rows without any I/O;
//   - a bounded map holds the counts touched since the last flush;
//   - every count flushed from the map lives in a scratch hash table on disk (a temporary file
//     beside the state file, deleted by Close and, on Unix, already unlinked while open), read
//     only when the filter says "maybe seen" and the map does not know the hash.
//
// The scratch table is not in the state file on purpose: it is thrown away with the run, so it
// needs neither fsync nor copy-on-write, and reading it with pread keeps its pages out of the
// process's resident memory. One reader goroutine numbers rows in file order; its KeyRanks
// (Ranks) may be used from another goroutine: a mutex keeps the shared storage consistent.
type Occurrences struct {
	mu      sync.Mutex
	bloom   []uint64
	pending map[[32]byte]uint32 // next index of each hash touched since the last flush
	limit   int                 // how many hashes pending holds before a flush
	table   *seenTable
	err     error // sticky: after an I/O error the numbering can no longer be trusted
}

const (
	bloomBlocks   = 1 << 16 // most blocks of 512 bits (one cache line each): 4 MiB in total
	bloomMinBlks  = 1 << 10 // fewest blocks: 64 KiB
	bloomBits     = 16      // bits per expected hash
	bloomK        = 8       // bits set per hash: about 0.1% false positives at bloomBits bits a hash
	maxPending    = 1 << 15 // most hashes held in memory between flushes
	minPending    = 1 << 13 // fewest
	seenPageSize  = 4096
	seenSlotSize  = 36 // 32-byte hash + 4-byte count; a zero count marks an empty slot
	seenSlots     = seenPageSize / seenSlotSize
	seenMinPages  = 64
	seenMaxLoad   = 0.7 // fraction of slots filled before the table doubles
	seenGrowChunk = 256 // pages read at a time while rehashing
	seenWindow    = 256 // most pages a flush reads and writes with one call each
	seenGap       = 4   // untouched pages a flush window spans rather than start a new one
)

// NewOccurrences starts numbering the rows of one file for the run runID. expect is how many
// hashes the run will number (rows, plus the keys a KeyRanks files), or 0 if unknown: the
// scratch table starts large enough for them, instead of doubling its way there (each doubling
// rereads and rewrites the whole table: 7 of them for a 200,000-row rerun). Close it when the
// file is done (or the run ends) to delete its scratch table.
func (s *Store) NewOccurrences(runID string, expect int) (*Occurrences, error) {
	return newOccurrences(filepath.Dir(s.path), runID, bloomBlocksFor(expect), seenPagesFor(expect))
}

// bloomBlocksFor is the filter size for n hashes: bloomBits bits each, in a power of two of
// blocks, the whole 4 MiB when n is unknown. The filter lives on the heap for the whole run,
// and the process keeps its heap near a 32 MiB soft limit, so every MiB it holds is a MiB the
// garbage collector has less room for (at Go's default GOGC a 100,000-row import collected
// about 240 times with a fixed 4 MiB filter, 175 with one sized for its rows). More hashes than
// expected only raise the false positives, each a read of the scratch table.
func bloomBlocksFor(n int) int {
	if n <= 0 {
		return bloomBlocks
	}
	blocks := bloomMinBlks
	for blocks < bloomBlocks && blocks*512 < n*bloomBits {
		blocks *= 2
	}
	return blocks
}

// seenPagesFor is the table size that holds n hashes within seenMaxLoad: at least
// seenMinPages, so that a wrong count costs doublings, not correctness.
func seenPagesFor(n int) uint64 {
	pages := uint64(seenMinPages)
	for n > 0 && float64(n) > seenMaxLoad*float64(pages*seenSlots) {
		pages *= 2
	}
	return pages
}

// pendingFor is how many hashes wait in memory between flushes for a table of the given
// pages: eight a page. A flush reads and writes every page it touches, so in a large table
// it should bring several entries to each; in a small one that takes fewer, and the map and
// the flush's sort buffer (about 80 bytes a hash together) are heap the garbage collector
// works beside. A 100,000-row file holds 16,384, a million-row one 32,768.
func pendingFor(pages uint64) int {
	return int(min(max(pages*8, minPending), maxPending))
}

// newOccurrences lets tests use a tiny filter, so that false positives are common and the
// path that resolves them is exercised.
func newOccurrences(dir, runID string, blocks int, pages uint64) (*Occurrences, error) {
	t, err := newSeenTable(dir, runID, pages)
	if err != nil {
		return nil, err
	}
	return &Occurrences{
		bloom:   make([]uint64, blocks*8),
		pending: make(map[[32]byte]uint32, pendingFor(pages)),
		limit:   pendingFor(pages),
		table:   t,
	}, nil
}

// Next returns how many earlier calls since NewOccurrences passed the same hash.
func (o *Occurrences) Next(hash [32]byte) (uint32, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n, err := o.get(hash)
	if err != nil {
		return 0, err
	}
	return n, o.put(hash, n+1)
}

// get returns the value stored for hash (0: none).
func (o *Occurrences) get(hash [32]byte) (uint32, error) {
	if o.err != nil {
		return 0, o.err
	}
	if n, ok := o.pending[hash]; ok {
		return n, nil
	}
	if !o.bloomAdd(hash) {
		return 0, nil
	}
	// Maybe seen before: only the table can tell a repeat from a false positive.
	c, found, err := o.table.lookup(hash)
	if err != nil {
		o.err = err
		return 0, err
	}
	if !found {
		c = 0
	}
	return c, nil
}

// put stores v (not 0) for hash, which get has seen.
func (o *Occurrences) put(hash [32]byte, v uint32) error {
	if o.err != nil {
		return o.err
	}
	o.pending[hash] = v
	if len(o.pending) >= o.limit {
		if err := o.flush(); err != nil {
			o.err = err
			return err
		}
	}
	return nil
}

// KeyRanks keeps one number per key, exactly and in bounded memory: the importer keeps, for
// each person or deal of a file, the newest run that applied one of its rows so far (see
// importer's "File order across reruns"). It lives in its Occurrences, whose filter, map and
// scratch table it shares: a second set of them would add 6 MiB to a process that keeps its
// heap near 32 MiB, and the garbage collector would make a rerun cost twice the CPU. The
// hashes it is given must not be hashes Occurrences numbers (the importer hashes keys with a
// prefix no params JSON has). Its methods may run beside its Occurrences' Next (the importer
// numbers rows in one goroutine and ranks keys in another), not beside each other.
type KeyRanks struct{ o *Occurrences }

// Ranks returns the KeyRanks that shares o's storage; closing o ends it.
func (o *Occurrences) Ranks() *KeyRanks { return &KeyRanks{o: o} }

// Get returns the largest rank given to hash so far, 0 if none.
func (k *KeyRanks) Get(hash [32]byte) (uint32, error) {
	k.o.mu.Lock()
	defer k.o.mu.Unlock()
	return k.o.get(hash)
}

// Set gives hash the rank r. Call it after Get of the same hash, with a rank larger than the
// one Get returned (ranks only grow; Get alone leaves the hash as it was).
func (k *KeyRanks) Set(hash [32]byte, r uint32) error {
	k.o.mu.Lock()
	defer k.o.mu.Unlock()
	return k.o.put(hash, r)
}

// Close deletes the scratch table. It is safe to call more than once.
func (o *Occurrences) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.table == nil {
		return nil
	}
	err := o.table.close()
	o.table = nil
	o.err = fmt.Errorf("checkpoint: Occurrences used after Close")
	return err
}

func (o *Occurrences) flush() error {
	// The table sorts straight from the map: a copy of it first would be another 1.5 MiB
	// the garbage collector has to live beside.
	if err := o.table.put(len(o.pending), maps.All(o.pending)); err != nil {
		return err
	}
	o.limit = pendingFor(o.table.pages) // the table may have grown
	clear(o.pending)
	return nil
}

// bloomAdd sets the hash's bits and reports whether they were all set already. The hash is a
// SHA-256, so its bytes serve directly as independent hash functions: bytes 8..15 pick the
// block, 16..31 the bits within it (bytes 0..7 pick the hash's page in the scratch table).
func (o *Occurrences) bloomAdd(h [32]byte) (present bool) {
	blocks := uint64(len(o.bloom) / 8) // a power of two
	block := o.bloom[(binary.LittleEndian.Uint64(h[8:])&(blocks-1))*8:][:8]
	a := binary.LittleEndian.Uint64(h[16:])
	b := binary.LittleEndian.Uint64(h[24:]) | 1
	present = true
	for i := range uint64(bloomK) {
		bit := (a + i*b) & 511
		w, m := &block[bit>>6], uint64(1)<<(bit&63)
		if *w&m == 0 {
			present = false
			*w |= m
		}
	}
	return present
}

type seenEntry struct {
	hash  [32]byte
	count uint32
	home  uint64 // set by sortByHome
}

// seenTable is an open-addressing hash table of (hash, count) in a file, in pages of
// seenSlots slots. A hash lives in its home page or, when that is full, in the next page
// with room; nothing is ever deleted, so an empty slot on the hash's probe path ends the search.
type seenTable struct {
	f       *os.File
	path    string
	dir     string
	runID   string
	unlink  bool // the name still exists and must be removed on close
	pages   uint64
	entries uint64
	buf     [seenPageSize]byte
	win     []byte // seenWindow pages, allocated by the first flush
	counts  []uint32
	sorted  []seenEntry
}

func newSeenTable(dir, runID string, pages uint64) (*seenTable, error) {
	pattern := ".gcbatch-seen-" + sanitizeName(runID) + "-*"
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		// The state file's directory is the natural place (same disk, same owner), but a
		// state file in a directory the user cannot write to should not stop the import.
		var err2 error
		if f, err2 = os.CreateTemp("", pattern); err2 != nil {
			return nil, fmt.Errorf("checkpoint: scratch file for duplicate rows: %w", err)
		}
		dir = os.TempDir()
	}
	t := &seenTable{f: f, path: f.Name(), dir: dir, runID: runID, pages: pages}
	// Unlink at once where the system allows it (Unix), so even a kill -9 leaves nothing behind.
	t.unlink = os.Remove(t.path) != nil
	if err := f.Truncate(int64(pages * seenPageSize)); err != nil {
		t.close()
		return nil, t.ioErr(err)
	}
	return t, nil
}

func sanitizeName(s string) string {
	return string(bytes.Map(func(r rune) rune {
		if r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, []byte(s)))
}

func (t *seenTable) ioErr(err error) error {
	return fmt.Errorf("checkpoint: scratch file for duplicate rows %s: %w", t.path, err)
}

func (t *seenTable) close() error {
	err := t.f.Close()
	if t.unlink {
		if rerr := os.Remove(t.path); err == nil {
			err = rerr
		}
	}
	return err
}

// home spreads hashes over the pages by their first 8 bytes; multiplying instead of taking a
// remainder keeps the order of hashes, so a doubled table is filled nearly sequentially.
func (t *seenTable) home(h *[32]byte) uint64 {
	hi, _ := bits.Mul64(binary.BigEndian.Uint64(h[:8]), t.pages)
	return hi
}

func (t *seenTable) readPage(p uint64) error {
	if _, err := t.f.ReadAt(t.buf[:], int64(p*seenPageSize)); err != nil {
		return t.ioErr(err)
	}
	return nil
}

// lookup returns the stored count of h.
func (t *seenTable) lookup(h [32]byte) (uint32, bool, error) {
	p := t.home(&h)
	for range t.pages {
		if err := t.readPage(p); err != nil {
			return 0, false, err
		}
		switch i, found := findSlot(t.buf[:], &h); {
		case found:
			return binary.BigEndian.Uint32(t.buf[i*seenSlotSize+32:]), true, nil
		case i >= 0:
			return 0, false, nil // an empty slot: h would have been stored there
		}
		p = (p + 1) % t.pages
	}
	return 0, false, nil
}

// findSlot looks for h in one page, probing from a slot chosen by the hash so that a page is
// searched in a few steps, not slot by slot from the start. It returns h's slot (found), the
// empty slot where h belongs (not found), or -1 when the page is full of other hashes.
func findSlot(page []byte, h *[32]byte) (slot int, found bool) {
	i := int(binary.LittleEndian.Uint32(h[28:]) % seenSlots)
	for range seenSlots {
		s := page[i*seenSlotSize:][:seenSlotSize]
		if binary.BigEndian.Uint32(s[32:]) == 0 {
			return i, false
		}
		if [32]byte(s[:32]) == *h {
			return i, true
		}
		if i++; i == seenSlots {
			i = 0
		}
	}
	return -1, false
}

// put stores the n entries (inserting or updating), doubling the table first if they could
// push it past seenMaxLoad. Entries are applied in page order, each page read and written
// once. entries is walked twice, and must give the same entries both times.
func (t *seenTable) put(n int, entries iter.Seq2[[32]byte, uint32]) error {
	need := t.entries + uint64(n)
	if float64(need) > seenMaxLoad*float64(t.pages*seenSlots) {
		pages := t.pages * 2
		for float64(need) > seenMaxLoad*float64(pages*seenSlots) {
			pages *= 2
		}
		if err := t.grow(pages); err != nil {
			return err
		}
	}
	return t.apply(t.sortByHome(n, entries))
}

// apply stores entries sorted by sortByHome.
func (t *seenTable) apply(es []seenEntry) error {
	var spill []seenEntry
	for i := 0; i < len(es); {
		// A window spans neighbouring home pages, up to seenGap untouched pages apart: reading a
		// few pages too many costs less than another pair of system calls.
		start, last := es[i].home, es[i].home
		j := i + 1
		for j < len(es) && es[j].home-last <= seenGap && es[j].home-start < seenWindow-1 {
			last = es[j].home
			j++
		}
		n := min(last-start+2, t.pages-start) // one more page for hashes whose home is full
		if t.win == nil {
			t.win = make([]byte, seenWindow*seenPageSize)
		}
		win := t.win[:n*seenPageSize]
		if _, err := t.f.ReadAt(win, int64(start*seenPageSize)); err != nil {
			return t.ioErr(err)
		}
		for _, e := range es[i:j] {
			if !t.placeIn(win, e.home-start, e) {
				spill = append(spill, e)
			}
		}
		if _, err := t.f.WriteAt(win, int64(start*seenPageSize)); err != nil {
			return t.ioErr(err)
		}
		i = j
	}
	// Rare: the pages after a hash's home were full to the end of its window.
	for _, e := range spill {
		p, placed := e.home, false
		for range t.pages {
			if err := t.readPage(p); err != nil {
				return err
			}
			if placed = t.placeIn(t.buf[:], 0, e); placed {
				if _, err := t.f.WriteAt(t.buf[:], int64(p*seenPageSize)); err != nil {
					return t.ioErr(err)
				}
				break
			}
			p = (p + 1) % t.pages
		}
		if !placed {
			return t.ioErr(fmt.Errorf("table full (%d entries)", t.entries)) // unreachable below seenMaxLoad
		}
	}
	return nil
}

// sortByHome returns the n entries in page order, each with its home page set, by counting
// rather than comparing: a flush sorts tens of thousands of entries, and moving them around
// in a comparison sort cost as much as the I/O. It walks entries twice: once to count each
// page's entries, once to put each entry in its place.
func (t *seenTable) sortByHome(n int, entries iter.Seq2[[32]byte, uint32]) []seenEntry {
	if cap(t.counts) < int(t.pages)+1 {
		t.counts = make([]uint32, t.pages+1)
	}
	counts := t.counts[:t.pages+1]
	clear(counts)
	for h := range entries {
		counts[t.home(&h)+1]++
	}
	for p := 1; p < len(counts); p++ {
		counts[p] += counts[p-1]
	}
	t.sorted = slices.Grow(t.sorted[:0], n)[:n]
	for h, c := range entries {
		home := t.home(&h)
		t.sorted[counts[home]] = seenEntry{hash: h, count: c, home: home}
		counts[home]++
	}
	return t.sorted
}

// placeIn updates e's slot, or takes the first empty one, in the pages of win from page
// `from` on. It reports false when every one of those pages is full of other hashes.
func (t *seenTable) placeIn(win []byte, from uint64, e seenEntry) bool {
	for p := from; p < uint64(len(win)/seenPageSize); p++ {
		page := win[p*seenPageSize:][:seenPageSize]
		i, found := findSlot(page, &e.hash)
		if i < 0 {
			continue
		}
		slot := page[i*seenSlotSize:][:seenSlotSize]
		if !found {
			copy(slot, e.hash[:])
			t.entries++
		}
		binary.BigEndian.PutUint32(slot[32:], e.count)
		return true
	}
	return false
}

// entriesOf walks es as (hash, count) pairs, for sortByHome.
func entriesOf(es []seenEntry) iter.Seq2[[32]byte, uint32] {
	return func(yield func([32]byte, uint32) bool) {
		for _, e := range es {
			if !yield(e.hash, e.count) {
				return
			}
		}
	}
}

// grow moves every entry into a new file of the given number of pages, reading the old one
// sequentially in chunks.
func (t *seenTable) grow(pages uint64) error {
	nt, err := newSeenTable(t.dir, t.runID, pages)
	if err != nil {
		return err
	}
	chunk := make([]byte, seenGrowChunk*seenPageSize)
	var es []seenEntry
	for start := uint64(0); start < t.pages; start += seenGrowChunk {
		n := min(seenGrowChunk, t.pages-start)
		if _, err := t.f.ReadAt(chunk[:n*seenPageSize], int64(start*seenPageSize)); err != nil {
			nt.close()
			return t.ioErr(err)
		}
		es = es[:0]
		for p := range n {
			page := chunk[p*seenPageSize:]
			for i := range seenSlots {
				slot := page[i*seenSlotSize:][:seenSlotSize]
				c := binary.BigEndian.Uint32(slot[32:])
				if c == 0 {
					continue
				}
				es = append(es, seenEntry{hash: [32]byte(slot[:32]), count: c})
			}
		}
		if err := nt.apply(nt.sortByHome(len(es), entriesOf(es))); err != nil {
			nt.close()
			return err
		}
	}
	if err := t.close(); err != nil {
		nt.close()
		return err
	}
	*t = *nt
	return nil
}
