package appliance

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
)

// ClientTLS is the edge's side of the sync link: it presents the
// appliance's certificate and trusts only the region's CA. ServerName is
// left empty for the dialer to fill in from the address it dials.
func (id *Identity) ClientTLS() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{id.Cert},
		RootCAs:      id.Pool,
		MinVersion:   tls.VersionTLS13,
		NextProtos:   []string{ALPN},
	}
}

// ServerTLS is central's side of the sync link: it requires a client
// certificate from clientCAs that names an edge appliance.
func ServerTLS(cert tls.Certificate, clientCAs *x509.CertPool) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    clientCAs,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
		NextProtos:   []string{ALPN},
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("%w: no client certificate", ErrNotEdge)
			}
			_, err := EdgeUAI(cs.PeerCertificates[0])
			return err
		},
	}
}
