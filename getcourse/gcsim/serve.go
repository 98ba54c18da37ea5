package gcsim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

// ServeOptions say where and how Serve listens.
type ServeOptions struct {
	// Listen is the address; default 127.0.0.1:8080. Port 0 picks a free port.
	Listen string
	// TLS serves HTTPS with a fresh self-signed certificate for 127.0.0.1, ::1 and localhost.
	TLS bool
	// CertOut, with TLS, is where the certificate is written (PEM) for clients to trust.
	CertOut string
	// Ready, if set, is called with the base URL once the listener is open.
	Ready func(baseURL string)
}

// shutdownGrace is how long in-flight requests may finish after the context ends; then the
// remaining connections are closed (which also ends slow-fault waits).
const shutdownGrace = 3 * time.Second

// Serve serves sim until ctx ends, then shuts down gracefully. It prints the base URL and the
// key to use to out.
func Serve(ctx context.Context, sim *Sim, opts ServeOptions, out io.Writer) error {
	addr := opts.Listen
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("gcsim: listen: %w", err)
	}
	srv := &http.Server{
		Handler:           sim,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(out, "gcsim: ", 0),
	}
	scheme := "http"
	if opts.TLS {
		cert, certPEM, err := selfSignedCert(time.Now())
		if err != nil {
			ln.Close()
			return err
		}
		if opts.CertOut != "" {
			if err := os.WriteFile(opts.CertOut, certPEM, 0o644); err != nil {
				ln.Close()
				return fmt.Errorf("gcsim: write the certificate: %w", err)
			}
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, srv.TLSConfig)
		scheme = "https"
	}
	base := scheme + "://" + displayAddr(ln.Addr())
	fmt.Fprintf(out, "GetCourse simulator at %s (plan %s)\n", base, sim.Plan())
	fmt.Fprintf(out, "  GETCOURSE_BASE_URL=%s\n  GETCOURSE_API_KEY=%s\n", base, sim.cfg.Key)
	if opts.TLS && opts.CertOut != "" {
		fmt.Fprintf(out, "  certificate: %s\n", opts.CertOut)
	}
	if opts.Ready != nil {
		opts.Ready(base)
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("gcsim: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("gcsim: serve: %w", err)
	}
	fmt.Fprintln(out, "GetCourse simulator stopped")
	return nil
}

// displayAddr turns a wildcard listen address into one a client can dial.
func displayAddr(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	host := ta.IP.String()
	if ta.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(ta.Port))
}

// selfSignedCert makes an in-memory ECDSA certificate for the loopback names.
func selfSignedCert(now time.Time) (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("gcsim: certificate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("gcsim: certificate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "gcsim local test certificate", Organization: []string{"gcbatch"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("gcsim: create certificate: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, certPEM, nil
}
