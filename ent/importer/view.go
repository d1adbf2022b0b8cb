package importer

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"hash/fnv"
	"io"

	"atrium/ent"
	"atrium/ent/directory"
	"atrium/record"
)

// The académie's view is kept at central in ent.DirectoryBuckets records
// (ent.DirectoryArgs): each entry goes to the bucket a hash of its
// category and id names, one JSON line per entry, compressed.

// bucketHead is what a run reads of a stored bucket to compare it.
type bucketHead struct {
	Bucket int    `json:"bucket"`
	Hash   string `json:"hash"`
}

func bucketOf(category, id string) int {
	h := fnv.New32a()
	io.WriteString(h, category)
	h.Write([]byte{0})
	io.WriteString(h, id)
	return int(h.Sum32() % ent.DirectoryBuckets)
}

// packView compresses the view into its buckets, in order.
func packView(acad string, im *directory.Import) ([]ent.DirectoryArgs, error) {
	type packer struct {
		buf   bytes.Buffer
		gz    *gzip.Writer
		sum   hash.Hash
		count int
	}
	ps := make([]*packer, ent.DirectoryBuckets)
	for i := range ps {
		p := &packer{sum: sha256.New()}
		gz, err := gzip.NewWriterLevel(&p.buf, gzip.BestSpeed)
		if err != nil {
			return nil, err
		}
		p.gz = gz
		ps[i] = p
	}
	var line []byte // json.Marshal's bytes, without its allocations
	err := im.Entries(func(e directory.Entry) error {
		line = ent.AppendDirectoryEntry(line[:0], ent.DirectoryEntry{Category: e.Category, ID: e.ID, Attrs: e.Attrs})
		line = append(line, '\n')
		p := ps[bucketOf(e.Category, e.ID)]
		p.sum.Write(line)
		p.count++
		_, err := p.gz.Write(line)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pack the directory view: %w", err)
	}
	out := make([]ent.DirectoryArgs, len(ps))
	for i, p := range ps {
		if err := p.gz.Close(); err != nil {
			return nil, err
		}
		out[i] = ent.DirectoryArgs{Academie: acad, Bucket: i, Count: p.count, Hash: hex.EncodeToString(p.sum.Sum(nil))}
		if p.count > 0 {
			out[i].Data = p.buf.Bytes()
		}
	}
	return out, nil
}

// seed loads the view central kept into im, for a run that starts with a
// Delta set.
func (r *run) seed(im *directory.Import, acad string) error {
	return r.t.View(func(rd record.Reader) error {
		return rd.Scan(ent.DirectoryPartition(acad), ent.KindDirectoryEntry, func(rec record.Record) error {
			var b ent.DirectoryArgs
			if err := json.Unmarshal(rec.Body, &b); err != nil {
				return fmt.Errorf("decode directory bucket %s: %w", rec.ID, err)
			}
			if b.Count == 0 {
				return nil
			}
			gz, err := gzip.NewReader(bytes.NewReader(b.Data))
			if err != nil {
				return fmt.Errorf("directory bucket %d: %w", b.Bucket, err)
			}
			sc := bufio.NewScanner(gz)
			sc.Buffer(nil, 16<<20)
			for sc.Scan() {
				var e ent.DirectoryEntry
				if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
					return fmt.Errorf("directory bucket %d: %w", b.Bucket, err)
				}
				if err := im.Load(directory.Entry{Category: e.Category, ID: e.ID, Attrs: e.Attrs}); err != nil {
					return err
				}
			}
			if err := sc.Err(); err != nil {
				return fmt.Errorf("directory bucket %d: %w", b.Bucket, err)
			}
			return nil
		})
	})
}
