package ent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"atrium/record"
)

// Files: the documents of the ressources and the espaces collaboratifs.
//
// A file is cut into chunks of at most ChunkSize bytes. Each chunk is a
// record of its partition (KindFileChunk) whose id is derived from the
// SHA-256 of its bytes, so a chunk stored twice in a partition is stored
// once, and the record that uses the file names its chunks in a FileRef.
// Chunks travel like every other record: an edge's uploads wait in its
// outbox during an outage and reach central after it, central's reach the
// edge on the changes feed, both resuming where they stopped. An edge's
// own chunks do not come back to it whole: central sends them as stubs
// (node/central.go's ownChunk, replication's ServerConfig.Stub) and the
// edge takes the body from its own copy of the chunk (same id, same
// bytes). chunkBody's encoding must therefore stay deterministic and the
// same at both ends: the partitions' digests compare them.
//
// FilesIncomplete tells an edge's status how many files still miss chunks.
// Central stores a chunk's bytes once however many lycées store it
// (central/blobs.go); it relies on the body being exactly
// json.Marshal(chunkBody{Data}) and stores any other form whole.
// What this does not do yet (issue "Replication for the real world…"):
// carry a chunk's bytes without base64, prefetch on a stream of its own,
// and collect the chunks no record uses (docs/files.md).

// ChunkSize is the largest chunk of a file.
const ChunkSize = 256 << 10

// MaxFileSize is the largest file a user may store.
const MaxFileSize = 200 << 20

// FileRef is how a record names a file: its name and type as the uploader
// gave them, its size, its SHA-256 and those of its chunks in order.
type FileRef struct {
	Name   string   `json:"name"`
	Type   string   `json:"type"`
	Size   int64    `json:"size"`
	SHA256 string   `json:"sha256"`
	Chunks []string `json:"chunks"`
}

// FileChunkArgs are the arguments of OpFileChunk.
type FileChunkArgs struct {
	Hash string `json:"hash"` // hex SHA-256 of Data
	Data []byte `json:"data"`
}

type chunkBody struct {
	Data []byte `json:"data"`
}

// ErrFileIncomplete is returned when some chunks of a file have not
// reached this node yet.
var ErrFileIncomplete = errors.New("ent: file not complete here yet")

// ChunkID is the record id of the chunk with that hex SHA-256: a UUID
// (version 8) made of the hash's first bytes.
func ChunkID(hash string) string {
	b, err := hex.DecodeString(hash)
	if err != nil || len(b) != sha256.Size {
		return ""
	}
	var u [16]byte
	copy(u[:], b)
	u[6] = u[6]&0x0f | 0x80
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

func validHash(h string) bool {
	if len(h) != 2*sha256.Size {
		return false
	}
	for _, c := range h {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func execFileChunk(tx record.Tx, cmd record.Command) error {
	var a FileChunkArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	if !validHash(a.Hash) || cmd.Partition == "" || cmd.Time <= 0 {
		return rejectInvalid("Commande mal formée.")
	}
	if len(a.Data) == 0 || len(a.Data) > ChunkSize {
		return rejectInvalid("Morceau de fichier de taille invalide.")
	}
	if sum := sha256.Sum256(a.Data); hex.EncodeToString(sum[:]) != a.Hash {
		return rejectInvalid("Morceau de fichier altéré : son empreinte ne correspond pas.")
	}
	if _, ok, err := activeUser(tx, cmd.Partition, cmd.User); err != nil {
		return err
	} else if !ok {
		return rejectForbidden("Seuls les membres de l'établissement y déposent des fichiers.")
	}
	id := ChunkID(a.Hash)
	if ok, err := existing(tx, cmd.Partition, id, KindFileChunk); err != nil || ok {
		return err // stored already: by this command before, or by another with the same bytes
	}
	body, err := json.Marshal(chunkBody{Data: a.Data})
	if err != nil {
		return err
	}
	return tx.Put(record.Record{Partition: cmd.Partition, ID: id, Kind: KindFileChunk, Body: body})
}

// CheckFileRef checks a FileRef carried by the arguments of a command, as
// the services that attach files do before they write (the chunks need
// not have arrived: they are checked when the file is read).
func CheckFileRef(f FileRef) error {
	switch {
	case !validFileName(f.Name):
		return rejectInvalid("Nom de fichier invalide.")
	case f.Size <= 0 || f.Size > MaxFileSize:
		return rejectInvalid(fmt.Sprintf("Fichier vide ou trop volumineux (%d Mo au plus).", MaxFileSize>>20))
	case int64(len(f.Chunks)) != (f.Size+ChunkSize-1)/ChunkSize:
		return rejectInvalid("Fichier mal décrit : nombre de morceaux incohérent.")
	case !validHash(f.SHA256):
		return rejectInvalid("Fichier mal décrit : empreinte invalide.")
	}
	if _, _, err := mime.ParseMediaType(f.Type); err != nil || len(f.Type) > 100 {
		return rejectInvalid("Type de fichier invalide.")
	}
	for _, h := range f.Chunks {
		if !validHash(h) {
			return rejectInvalid("Fichier mal décrit : empreinte de morceau invalide.")
		}
	}
	return nil
}

// validFileName accepts a file's base name: printable, without path
// separators, at most 200 characters.
func validFileName(name string) bool {
	if name == "" || name == "." || name == ".." || !utf8.ValidString(name) || utf8.RuneCountInString(name) > 200 {
		return false
	}
	for _, r := range name {
		if r == '/' || r == '\\' || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// CleanFileName turns the name a browser sends with an upload into a base
// name CheckFileRef accepts ("fichier" when nothing usable is left).
func CleanFileName(name string) string {
	name = strings.ToValidUTF8(name, "")
	name = path.Base(strings.ReplaceAll(name, "\\", "/"))
	name = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) || r == '/' {
			return -1
		}
		return r
	}, strings.TrimSpace(name))
	if r := []rune(name); len(r) > 200 {
		name = string(r[len(r)-200:])
	}
	if name == "" || name == "." || name == ".." {
		return "fichier"
	}
	return name
}

// StoreFile reads a file from r and stores its chunks in partition on
// behalf of u, skipping the chunks the partition already holds. It returns
// the FileRef that the record using the file carries. A file larger than
// MaxFileSize is refused (*record.Rejection) after reading one byte too
// many; the chunks stored before a failure stay until collected.
func (s *Service) StoreFile(ctx context.Context, u User, partition, name, contentType string, r io.Reader) (FileRef, error) {
	ref := FileRef{Name: CleanFileName(name), Type: contentType}
	if ref.Type == "" {
		ref.Type = "application/octet-stream"
	}
	whole := sha256.New()
	buf := make([]byte, ChunkSize)
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			if ref.Size+int64(n) > MaxFileSize {
				return FileRef{}, rejectInvalid(fmt.Sprintf("Fichier trop volumineux (%d Mo au plus).", MaxFileSize>>20))
			}
			ref.Size += int64(n)
			whole.Write(buf[:n])
			sum := sha256.Sum256(buf[:n])
			h := hex.EncodeToString(sum[:])
			ref.Chunks = append(ref.Chunks, h)
			if err := s.storeChunk(ctx, u, partition, h, buf[:n]); err != nil {
				return FileRef{}, err
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return FileRef{}, fmt.Errorf("ent: read uploaded file: %w", err)
		}
	}
	ref.SHA256 = hex.EncodeToString(whole.Sum(nil))
	if err := CheckFileRef(ref); err != nil {
		return FileRef{}, err
	}
	return ref, nil
}

func (s *Service) storeChunk(ctx context.Context, u User, partition, hash string, data []byte) error {
	var have bool
	err := s.store.View(func(r record.Reader) error {
		rec, ok, err := r.Get(partition, ChunkID(hash))
		have = ok && !rec.Deleted && rec.Kind == KindFileChunk
		return err
	})
	if err != nil || have {
		return err
	}
	return s.submit(ctx, u, OpFileChunk, partition, FileChunkArgs{Hash: hash, Data: data}, s.now())
}

// FileChunksHere counts the chunks of f that this node holds in partition:
// an edge catching up shows "n/m" rather than a broken download.
func (s *Service) FileChunksHere(partition string, f FileRef) (int, error) {
	n := 0
	err := s.store.View(func(r record.Reader) error {
		for _, h := range f.Chunks {
			rec, ok, err := r.Get(partition, ChunkID(h))
			if err != nil {
				return err
			}
			if ok && !rec.Deleted && rec.Kind == KindFileChunk {
				n++
			}
		}
		return nil
	})
	return n, err
}

// OpenFile returns a reader of the file f of partition that can seek, for
// ranged downloads. Rights are the caller's: the service that shows the
// record naming f decides who may read it. Reading a chunk that has not
// reached this node fails with ErrFileIncomplete; a chunk whose bytes do
// not match its hash fails too.
func (s *Service) OpenFile(partition string, f FileRef) *FileReader {
	return &FileReader{s: s, partition: partition, ref: f, cur: -1}
}

// FileReader reads a stored file chunk by chunk (io.ReadSeeker).
type FileReader struct {
	s         *Service
	partition string
	ref       FileRef
	off       int64
	cur       int // index of the chunk in data, -1 for none
	data      []byte
}

// Read implements io.Reader.
func (fr *FileReader) Read(p []byte) (int, error) {
	if fr.off >= fr.ref.Size {
		return 0, io.EOF
	}
	i := int(fr.off / ChunkSize)
	if i != fr.cur {
		if i >= len(fr.ref.Chunks) {
			return 0, fmt.Errorf("ent: file %s: offset %d past its chunks", fr.ref.Name, fr.off)
		}
		data, err := fr.s.chunk(fr.partition, fr.ref.Chunks[i])
		if err != nil {
			return 0, err
		}
		fr.cur, fr.data = i, data
	}
	n := copy(p, fr.data[fr.off-int64(i)*ChunkSize:])
	if n == 0 {
		return 0, fmt.Errorf("ent: file %s: chunk %d shorter than its place", fr.ref.Name, i)
	}
	fr.off += int64(n)
	return n, nil
}

// Seek implements io.Seeker.
func (fr *FileReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += fr.off
	case io.SeekEnd:
		offset += fr.ref.Size
	}
	if offset < 0 {
		return 0, errors.New("ent: seek before the start of the file")
	}
	fr.off = offset
	return offset, nil
}

func (s *Service) chunk(partition, hash string) ([]byte, error) {
	var data []byte
	err := s.store.View(func(r record.Reader) error {
		rec, ok, err := r.Get(partition, ChunkID(hash))
		if err != nil {
			return err
		}
		if !ok || rec.Deleted || rec.Kind != KindFileChunk {
			return ErrFileIncomplete
		}
		var b chunkBody
		if err := json.Unmarshal(rec.Body, &b); err != nil {
			return fmt.Errorf("ent: decode chunk %s: %w", hash, err)
		}
		data = b.Data
		return nil
	})
	if err != nil {
		return nil, err
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != hash {
		return nil, fmt.Errorf("ent: chunk %s: stored bytes do not match their hash", hash)
	}
	return data, nil
}

// FileProgress is how many of the files a store's records name have not
// all their chunks in that store yet, and how many bytes they miss: what
// an edge catching up still has to receive.
type FileProgress struct {
	Incomplete   int   `json:"incomplete"`    // files with at least one chunk missing
	MissingBytes int64 `json:"missing_bytes"` // the size of their missing chunks
}

// FilesIncomplete reads the files named by the catalogue items and the
// espaces' document versions of partition and counts those whose chunks
// are not all in r. It reads every such record: callers cache it.
func FilesIncomplete(r record.Reader, partition string) (FileProgress, error) {
	var p FileProgress
	count := func(f *FileRef) error {
		if f == nil {
			return nil
		}
		var missing int64
		for i, h := range f.Chunks {
			rec, ok, err := r.Get(partition, ChunkID(h))
			if err != nil {
				return err
			}
			if ok && !rec.Deleted && rec.Kind == KindFileChunk {
				continue
			}
			size := int64(ChunkSize)
			if i == len(f.Chunks)-1 {
				size = f.Size - int64(i)*ChunkSize
			}
			missing += max(size, 0)
		}
		if missing > 0 {
			p.Incomplete++
			p.MissingBytes += missing
		}
		return nil
	}
	err := r.Scan(partition, KindCatalogueItem, func(rec record.Record) error {
		var b catalogueBody
		if json.Unmarshal(rec.Body, &b) != nil {
			return nil // not a file's business
		}
		return count(b.File)
	})
	if err != nil {
		return FileProgress{}, fmt.Errorf("ent: files incomplete in %s: %w", partition, err)
	}
	err = r.Scan(partition, KindSpaceVersion, func(rec record.Record) error {
		var b spaceVersionBody
		if json.Unmarshal(rec.Body, &b) != nil {
			return nil
		}
		return count(&b.File)
	})
	if err != nil {
		return FileProgress{}, fmt.Errorf("ent: files incomplete in %s: %w", partition, err)
	}
	return p, nil
}
