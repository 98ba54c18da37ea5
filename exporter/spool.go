package exporter

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// spoolFile holds items that arrived before the fields list (JSON objects have no key order, and
// a PHP service may put "items" first). They are kept on disk, not in memory, as
// uvarint(cells) then uvarint(len) bytes per cell, and replayed once the header is written.
type spoolFile struct {
	f   *os.File
	w   *bufio.Writer
	tmp []byte
}

func newSpool(dir string) (*spoolFile, error) {
	f, err := os.CreateTemp(dir, ".gcbatch-export-spool-*")
	if err != nil {
		return nil, fmt.Errorf("cannot hold items that came before the column titles: %w", err)
	}
	return &spoolFile{f: f, w: bufio.NewWriterSize(f, 64<<10)}, nil
}

func (s *spoolFile) write(cells [][]byte) error {
	s.tmp = binary.AppendUvarint(s.tmp[:0], uint64(len(cells)))
	s.w.Write(s.tmp)
	for _, c := range cells {
		s.tmp = binary.AppendUvarint(s.tmp[:0], uint64(len(c)))
		s.w.Write(s.tmp)
		if _, err := s.w.Write(c); err != nil {
			return err
		}
	}
	return nil
}

func (s *spoolFile) replay(emit func([][]byte) error) error {
	if err := s.w.Flush(); err != nil {
		return &OutputError{Err: err}
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return &OutputError{Err: err}
	}
	r := bufio.NewReaderSize(s.f, 64<<10)
	var slab []byte
	var cells [][]byte
	var ends []int
	for {
		n, err := binary.ReadUvarint(r)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return &OutputError{Err: err}
		}
		slab, ends = slab[:0], ends[:0]
		for i := uint64(0); i < n; i++ {
			l, err := binary.ReadUvarint(r)
			if err != nil {
				return &OutputError{Err: err}
			}
			start := len(slab)
			slab = append(slab, make([]byte, l)...)
			if _, err := io.ReadFull(r, slab[start:]); err != nil {
				return &OutputError{Err: err}
			}
			ends = append(ends, len(slab))
		}
		cells = cells[:0]
		start := 0
		for _, e := range ends {
			cells = append(cells, slab[start:e])
			start = e
		}
		if err := emit(cells); err != nil {
			return err
		}
	}
}

func (s *spoolFile) close() {
	s.f.Close()
	os.Remove(s.f.Name())
}
