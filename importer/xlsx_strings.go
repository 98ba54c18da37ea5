package importer

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"os"
)

// sstMemory is how much of a workbook's string table (text and index) is kept in memory; the
// rest goes to temporary files.
var sstMemory = 8 << 20

// sharedStrings is a workbook's string table, looked up by index. Excel numbers strings in the
// order they first appear, so the repeated values of a sheet (cities, statuses, groups) are
// mostly among the first, kept in memory, while the distinct values of big sheets (e-mails,
// names) come later and are read in about the order the sheet uses them: the strings past
// sstMemory are written to a text file and an index of 8-byte end offsets, read back through
// two windows that move forward with the sheet, so most lookups cost no system call.
type sharedStrings struct {
	blob []byte   // the in-memory strings, back to back
	ends []uint32 // where each in-memory string ends in blob

	text, index *os.File // the spilled strings and their end offsets
	tw, iw      *bufio.Writer
	spilled     int   // strings in the files
	written     int64 // bytes of text written

	textWin, indexWin window
}

// window is a stretch of a file held in memory.
type window struct {
	buf   []byte
	start int64
}

// read returns n bytes at off. A miss moving forward reads size bytes ahead (the sheet goes on
// in about the table's order); a miss going back, a small page only, since the next lookup
// is likely ahead again.
func (w *window) read(f *os.File, off int64, n int, size int) ([]byte, error) {
	if off >= w.start && off+int64(n) <= w.start+int64(len(w.buf)) {
		return w.buf[off-w.start : off-w.start+int64(n)], nil
	}
	want := size
	if off < w.start {
		want = 4 << 10
	}
	want = max(want, n)
	if cap(w.buf) < want {
		w.buf = make([]byte, max(want, size))
	}
	w.buf = w.buf[:want]
	k, err := f.ReadAt(w.buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	w.buf, w.start = w.buf[:k], off
	if k < n {
		return nil, io.ErrUnexpectedEOF
	}
	return w.buf[:n], nil
}

// add appends the next string of the table.
func (s *sharedStrings) add(str string) error {
	if s.text == nil && len(s.blob)+len(str)+4*len(s.ends) < sstMemory && len(s.blob)+len(str) < 1<<32-1 {
		s.blob = append(s.blob, str...)
		s.ends = append(s.ends, uint32(len(s.blob)))
		return nil
	}
	if s.text == nil {
		var err error
		if s.text, err = os.CreateTemp("", "gcbatch-strings-*"); err != nil {
			return err
		}
		if s.index, err = os.CreateTemp("", "gcbatch-strings-*"); err != nil {
			return err
		}
		s.tw, s.iw = bufio.NewWriterSize(s.text, 64<<10), bufio.NewWriterSize(s.index, 64<<10)
	}
	if _, err := s.tw.WriteString(str); err != nil {
		return err
	}
	s.written += int64(len(str))
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(s.written))
	if _, err := s.iw.Write(b[:]); err != nil {
		return err
	}
	s.spilled++
	return nil
}

// finish ends the table: what is buffered goes to the files.
func (s *sharedStrings) finish() error {
	if s.tw == nil {
		return nil
	}
	err := errors.Join(s.tw.Flush(), s.iw.Flush())
	s.tw, s.iw = nil, nil
	return err
}

// get returns string i; ok is false when the table has no such string.
func (s *sharedStrings) get(i int) (str string, ok bool, err error) {
	n := len(s.ends)
	if i < 0 || i >= n+s.spilled {
		return "", false, nil
	}
	if i < n {
		start := uint32(0)
		if i > 0 {
			start = s.ends[i-1]
		}
		return string(s.blob[start:s.ends[i]]), true, nil
	}
	j := int64(i - n)
	var start, end int64
	if j == 0 {
		b, err := s.indexWin.read(s.index, 0, 8, 64<<10)
		if err != nil {
			return "", false, err
		}
		end = int64(binary.LittleEndian.Uint64(b))
	} else {
		b, err := s.indexWin.read(s.index, (j-1)*8, 16, 64<<10)
		if err != nil {
			return "", false, err
		}
		start, end = int64(binary.LittleEndian.Uint64(b)), int64(binary.LittleEndian.Uint64(b[8:]))
	}
	if end < start {
		return "", false, errors.New("string table index damaged")
	}
	b, err := s.textWin.read(s.text, start, int(end-start), 256<<10)
	if err != nil {
		return "", false, err
	}
	return string(b), true, nil
}

// close removes the temporary files.
func (s *sharedStrings) close() error {
	var errs []error
	for _, f := range []*os.File{s.text, s.index} {
		if f != nil {
			errs = append(errs, f.Close(), os.Remove(f.Name()))
		}
	}
	s.text, s.index, s.tw, s.iw = nil, nil, nil, nil
	return errors.Join(errs...)
}
