package appliance

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"atrium/internal/durable"
)

// Files of an enrolled appliance's identity directory. identity.json is
// written last: its presence is what "enrolled" means.
const (
	KeyFile      = "edge.key"
	CertFile     = "edge.crt"
	CAFile       = "ca.crt"
	IdentityFile = "identity.json"
)

// A renewal saves the new pair under these names first, then renames the
// key, then the certificate (savePair); LoadIdentity finishes a renewal a
// crash interrupted (finishPair).
const (
	nextKeyFile  = "edge.key.next"
	nextCertFile = "edge.crt.next"
)

// ALPN is the protocol both ends of the sync link announce.
const ALPN = "atrium-sync/1"

// maxEnrolResponse bounds what Enroll reads from central.
const maxEnrolResponse = 1 << 20

// Identity is an enrolled appliance: its lycée, its key and certificate,
// the region's CA and where central listens.
type Identity struct {
	UAI       string
	Cert      tls.Certificate // Leaf is set
	CACertPEM []byte
	Pool      *x509.CertPool // the region's CA only
	Central   []string       // UDP addresses of central's QUIC listeners
	// CentralURL is the base URL of central's HTTP API the appliance
	// enrolled with, where it renews its certificate ("" for an
	// appliance enrolled before renewal existed).
	CentralURL string
}

type identityFile struct {
	UAI        string   `json:"uai"`
	Central    []string `json:"central"`
	CentralURL string   `json:"central_url,omitempty"`
}

// Enroll enrols this appliance with central at centralURL (the base URL of
// its HTTP API) using a one-time token, and saves the identity in dir. The
// private key is generated here and never sent. Enroll refuses to run
// when dir already holds an identity (ErrAlreadyEnrolled); a refused token
// gives ErrEnrolRefused.
func Enroll(ctx context.Context, centralURL, token, dir string) (*Identity, error) {
	if _, err := os.Stat(filepath.Join(dir, IdentityFile)); err == nil {
		return nil, fmt.Errorf("enrol in %s: %w", dir, ErrAlreadyEnrolled)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("enrol in %s: %w", dir, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("enrol: generate key: %w", err)
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "atrium-edge"},
	}, key)
	if err != nil {
		return nil, fmt.Errorf("enrol: certificate request: %w", err)
	}
	csrPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER})

	resp, err := postEnrol(ctx, centralURL, EnrolRequest{Token: token, CSR: string(csrPEM)})
	if err != nil {
		return nil, err
	}

	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("enrol: marshal key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	id, err := buildIdentity([]byte(resp.Certificate), keyPEM, []byte(resp.CA),
		identityFile{UAI: resp.UAI, Central: resp.Central, CentralURL: centralURL})
	if err != nil {
		return nil, fmt.Errorf("enrol: central's answer: %w", err)
	}
	if _, err := id.Cert.Leaf.Verify(x509.VerifyOptions{
		Roots:     id.Pool,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return nil, fmt.Errorf("enrol: central's certificate: %w", err)
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("enrol: %w", err)
	}
	meta, err := json.MarshalIndent(identityFile{UAI: id.UAI, Central: id.Central, CentralURL: id.CentralURL}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("enrol: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		{KeyFile, keyPEM, 0o600},
		{CertFile, []byte(resp.Certificate), 0o644},
		{CAFile, []byte(resp.CA), 0o644},
		{IdentityFile, append(meta, '\n'), 0o644},
	} {
		if err := writeFileAtomic(dir, f.name, f.data, f.perm); err != nil {
			return nil, fmt.Errorf("enrol: save %s: %w", f.name, err)
		}
	}
	return id, nil
}

func postEnrol(ctx context.Context, centralURL string, body EnrolRequest) (*EnrolResponse, error) {
	var resp EnrolResponse
	status, msg, err := callCentral(ctx, strings.TrimRight(centralURL, "/")+EnrolPath, body, &resp)
	switch {
	case err != nil:
		return nil, fmt.Errorf("enrol: %w", err)
	case status == http.StatusForbidden:
		return nil, fmt.Errorf("enrol: %w: %s", ErrEnrolRefused, msg)
	case status == http.StatusServiceUnavailable:
		return nil, fmt.Errorf("enrol: %w: %s", ErrUnavailable, msg)
	case status != http.StatusOK:
		return nil, fmt.Errorf("enrol: central answered %d %s: %s", status, http.StatusText(status), msg)
	}
	return &resp, nil
}

// callCentral posts body as JSON to url (central's HTTP API) and decodes
// a 200 answer into out. Any other status is returned with the message of
// central's JSON error (and its code, if any), or the raw answer; err is
// a failure to reach central or to read its answer.
func callCentral(ctx context.Context, url string, body, out any) (status int, msg string, err error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	hr, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer hr.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(hr.Body, maxEnrolResponse))
	if err != nil {
		return 0, "", fmt.Errorf("read answer: %w", err)
	}
	if hr.StatusCode != http.StatusOK {
		var eb renewError
		msg := strings.TrimSpace(string(raw))
		if json.Unmarshal(raw, &eb) == nil && eb.Error != "" {
			msg = eb.Error
			if eb.Code != "" {
				msg += " (" + eb.Code + ")"
			}
		}
		return hr.StatusCode, msg, nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return hr.StatusCode, "", fmt.Errorf("decode answer: %w", err)
	}
	return hr.StatusCode, "", nil
}

// LoadIdentity reads the identity Enroll saved in dir, as the last
// renewal left it. A directory without one gives ErrNotEnrolled. It
// finishes saving a renewed pair a crash interrupted, so it must not run
// while the appliance renews its certificate.
func LoadIdentity(dir string) (*Identity, error) {
	metaRaw, err := os.ReadFile(filepath.Join(dir, IdentityFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("load identity from %s: %w", dir, ErrNotEnrolled)
	}
	if err != nil {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	if err := finishPair(dir); err != nil {
		return nil, fmt.Errorf("load identity: finish the last renewal: %w", err)
	}
	var meta identityFile
	if err := json.Unmarshal(metaRaw, &meta); err != nil {
		return nil, fmt.Errorf("load identity: %s: %w", IdentityFile, err)
	}
	var files [3][]byte
	for i, name := range []string{CertFile, KeyFile, CAFile} {
		if files[i], err = os.ReadFile(filepath.Join(dir, name)); err != nil {
			return nil, fmt.Errorf("load identity: %w", err)
		}
	}
	id, err := buildIdentity(files[0], files[1], files[2], meta)
	if err != nil {
		return nil, fmt.Errorf("load identity from %s: %w", dir, err)
	}
	return id, nil
}

// buildIdentity checks that the pieces of an identity agree: the key is
// the certificate's, the CA signed the certificate and the certificate
// names the UAI claimed. Expiry is left to the TLS handshake.
func buildIdentity(certPEM, keyPEM, caPEM []byte, meta identityFile) (*Identity, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certificate and key: %w", err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("certificate: %w", err)
		}
	}
	caCert, err := parseCertPEM(caPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	if !caCert.IsCA {
		return nil, fmt.Errorf("CA certificate: %w: not a CA", ErrBadCA)
	}
	if err := cert.Leaf.CheckSignatureFrom(caCert); err != nil {
		return nil, fmt.Errorf("certificate not signed by the CA: %w", err)
	}
	uai, err := EdgeUAI(cert.Leaf)
	if err != nil {
		return nil, err
	}
	if uai != meta.UAI {
		return nil, fmt.Errorf("%w: certificate names %q, identity says %q", ErrNotEdge, uai, meta.UAI)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return &Identity{
		UAI:        uai,
		Cert:       cert,
		CACertPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caCert.Raw}),
		Pool:       pool,
		Central:    meta.Central,
		CentralURL: meta.CentralURL,
	}, nil
}

// savePair replaces the appliance's key and certificate in dir so that a
// crash at any point leaves a matching pair: both go to their next files
// (synced), the key is renamed into place, then the certificate. Between
// the two renames the directory holds the new key, the old certificate
// and the new one's next file: finishPair completes that state.
func savePair(dir string, keyPEM, certPEM []byte) error {
	if err := writeFileAtomic(dir, nextKeyFile, keyPEM, 0o600); err != nil {
		return err
	}
	if err := writeFileAtomic(dir, nextCertFile, certPEM, 0o644); err != nil {
		return err
	}
	return finishPair(dir)
}

// finishPair moves a saved next pair into place. The certificate's next
// file is written after the key's: without it, a next key is what remains
// of a renewal interrupted before its certificate was saved, and goes.
func finishPair(dir string) error {
	nextKey, nextCert := filepath.Join(dir, nextKeyFile), filepath.Join(dir, nextCertFile)
	if _, err := os.Stat(nextCert); errors.Is(err, fs.ErrNotExist) {
		if err := os.Remove(nextKey); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	} else if err != nil {
		return err
	}
	if err := os.Rename(nextKey, filepath.Join(dir, KeyFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err // not there: renamed before the crash
	}
	if err := os.Rename(nextCert, filepath.Join(dir, CertFile)); err != nil {
		return err
	}
	return durable.SyncDir(dir)
}

// writeFileAtomic writes dir/name through a synced temporary file and a
// rename, so a crash leaves either the old file or the new one.
func writeFileAtomic(dir, name string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(dir, "."+name+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	return durable.SyncDir(dir)
}
