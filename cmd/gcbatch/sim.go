package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gcbatch/gcbatch/getcourse/gcsim"
)

// simOptions are the flags of `gcbatch sim`.
type simOptions struct {
	Out          io.Writer
	Listen       string
	Key          string
	TLS          bool
	CertOut      string
	Rate         string
	Rate429      bool
	Latency      time.Duration
	Jitter       time.Duration
	ApplyJitter  time.Duration
	Faults       string
	SlowDelay    time.Duration
	ExportDelay  time.Duration
	ExportBudget string
	Plan         string
	ReadOnlyKey  string
	Lifetime     time.Duration
	StatusPolls  int
	Numeric      bool
	StartDelay   time.Duration
	Allowance    int
	Shape        string
	SeedUsers    int
	SeedDeals    int
	Seed         int64
}

func newSimCmd(g *globals) *cobra.Command {
	o := &simOptions{}
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run the GetCourse simulator as a local server",
		Long: `sim serves a simulated GetCourse account (the same one the tests and the demo use) until
interrupted: the import and export API with the service's shapes, codes and Russian texts,
rate limits, the export budget, faults and pre-seeded data. Point gcbatch (or any GetCourse
client) at the printed base URL with the printed key.

Plans: pro, business and start have the whole API (start and business with a monthly
allowance of 1,000 and 10,000 created objects); trial answers every import call with an empty
HTTP 200 text/html page and writes nothing, while exports, the group list and the field list
work (as observed on a real trial account); no-api also refuses the export API with 917.
POST /_sim/plan?plan=pro switches the plan of a running simulator.

Answers that are still guesses (verify these first on a real account):
` + gcsim.GuessTable(),
		Example: `  gcbatch sim --listen 127.0.0.1:8080 --seed-users 100000 --seed-deals 50000
  gcbatch sim --rate 5/s --faults 500=0.05,html=0.02,empty=0.01,reset=0.01,slow=0.01
  gcbatch sim --tls --tls-cert-out sim.pem --export-budget 10/1m
  gcbatch sim --plan trial --read-only-key ro-key --export-lifetime 10m --status-polls 2 --numeric-items`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Out = g.Stdout
			return runSim(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", "127.0.0.1:8080", "address to serve on (port 0 picks a free one)")
	f.StringVar(&o.Key, "key", gcsim.DefaultKey, "the secret key the simulator accepts")
	f.BoolVar(&o.TLS, "tls", false, "serve HTTPS with a fresh self-signed certificate")
	f.StringVar(&o.CertOut, "tls-cert-out", "", "with --tls, write the certificate (PEM) to `PATH` for clients to trust")
	f.StringVar(&o.Rate, "rate", "", "import calls allowed, e.g. 5/s, 300/m, 1000/h (default unlimited)")
	f.BoolVar(&o.Rate429, "rate-429", false, "answer a rate-limited import with HTTP 429 + Retry-After (the seed's style)")
	f.DurationVar(&o.Latency, "latency", 0, "latency added to every answer, e.g. 200ms")
	f.DurationVar(&o.Jitter, "latency-jitter", 0, "uniform ± jitter on --latency")
	f.DurationVar(&o.ApplyJitter, "apply-jitter", 0, "hold each import call a random 0..D before applying it, so calls sent together land in any order (as on the real service's many servers)")
	f.StringVar(&o.Faults, "faults", "", "fault probabilities, e.g. 500=0.05,html=0.02,empty=0.01,reset=0.01,slow=0.01")
	f.DurationVar(&o.SlowDelay, "slow-delay", 30*time.Second, "how long a slow fault holds its answer")
	f.DurationVar(&o.ExportDelay, "export-delay", 2*time.Second, "how long an export takes to build")
	f.StringVar(&o.ExportBudget, "export-budget", "100/2h", "export API calls allowed per rolling window, N/DURATION")
	f.StringVar(&o.Plan, "plan", "pro", "account plan: "+strings.Join(gcsim.Plans, " | ")+" (trial: imports answer an empty page, exports work)")
	f.StringVar(&o.ReadOnlyKey, "read-only-key", "", "a second `KEY` that exports accept and imports refuse with «Действие запрещено»")
	f.DurationVar(&o.Lifetime, "export-lifetime", 0, "how long a built export stays collectable; then «Объект не найден» (0 = forever)")
	f.IntVar(&o.StatusPolls, "status-polls", 0, `answer the first N polls of every export with {"success":true,"info":{"status":"processing"}}`)
	f.BoolVar(&o.Numeric, "numeric-items", false, "write ids and money in export items as JSON numbers")
	f.DurationVar(&o.StartDelay, "export-start-delay", 0, "hold every export start's answer this long after starting it")
	f.IntVar(&o.Allowance, "allowance", 0, "objects that may be created per month (0 = the plan's default, -1 = unlimited)")
	f.StringVar(&o.Shape, "shape", "real", "answer shape: real (JSON booleans/numbers) | seed (\"true\" strings)")
	f.IntVar(&o.SeedUsers, "seed-users", 0, "pre-seeded users for exports")
	f.IntVar(&o.SeedDeals, "seed-deals", 0, "pre-seeded deals for exports (payments derive from the paid ones)")
	f.Int64Var(&o.Seed, "seed", 1, "seed of all randomness: the same seed, the same data and faults")
	return cmd
}

// simConfig turns the flags into a gcsim.Config; every error is a usage error.
func (o *simOptions) simConfig() (gcsim.Config, error) {
	cfg := gcsim.Config{Key: o.Key, Latency: o.Latency, LatencyJitter: o.Jitter, ApplyJitter: o.ApplyJitter, SlowDelay: o.SlowDelay,
		ExportDelay: o.ExportDelay, Plan: o.Plan, MonthlyAllowance: o.Allowance, SeedUsers: o.SeedUsers,
		SeedDeals: o.SeedDeals, Seed: o.Seed, RateLimit429: o.Rate429, Shape: o.Shape,
		ReadOnlyKey: o.ReadOnlyKey, ExportLifetime: o.Lifetime, StatusPolls: o.StatusPolls, NumericItems: o.Numeric,
		StartDelay: o.StartDelay}
	if strings.TrimSpace(o.Key) == "" {
		return cfg, fmt.Errorf("--key must not be empty")
	}
	if !slices.Contains(gcsim.Plans, o.Plan) {
		return cfg, fmt.Errorf("--plan must be one of %s, not %q", strings.Join(gcsim.Plans, ", "), o.Plan)
	}
	if o.ReadOnlyKey != "" && o.ReadOnlyKey == o.Key {
		return cfg, fmt.Errorf("--read-only-key must differ from --key")
	}
	if o.Lifetime < 0 || o.StatusPolls < 0 || o.StartDelay < 0 {
		return cfg, fmt.Errorf("--export-lifetime, --status-polls and --export-start-delay must not be negative")
	}
	switch o.Shape {
	case "real", "seed":
	default:
		return cfg, fmt.Errorf("--shape must be real or seed, not %q", o.Shape)
	}
	if o.SeedUsers < 0 || o.SeedDeals < 0 {
		return cfg, fmt.Errorf("--seed-users and --seed-deals must not be negative")
	}
	if o.ExportDelay <= 0 {
		cfg.ExportDelay = -1 // ready at once
	}
	if o.SlowDelay <= 0 {
		return cfg, fmt.Errorf("--slow-delay must be positive")
	}
	if o.Rate != "" {
		r, err := parseSimRate(o.Rate)
		if err != nil {
			return cfg, fmt.Errorf("--rate: %w", err)
		}
		cfg.Rate = r
	}
	f, err := gcsim.ParseFaults(o.Faults)
	if err != nil {
		return cfg, fmt.Errorf("--faults: %w", err)
	}
	cfg.Faults = f
	n, window, err := parseSimBudget(o.ExportBudget)
	if err != nil {
		return cfg, fmt.Errorf("--export-budget: %w", err)
	}
	cfg.ExportBudget, cfg.ExportWindow = n, window
	if o.CertOut != "" && !o.TLS {
		return cfg, fmt.Errorf("--tls-cert-out needs --tls")
	}
	return cfg, nil
}

func runSim(ctx context.Context, o *simOptions) error {
	cfg, err := o.simConfig()
	if err != nil {
		return exitErr(2, err)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// The simulator keeps every user, deal and message it is sent, so its heap grows with
		// what it serves: under gcbatch's soft limit (main.go) a simulator holding 100,000
		// users spent more than half its CPU collecting garbage, and answered half as fast.
		debug.SetMemoryLimit(math.MaxInt64)
	}
	sim := gcsim.New(cfg)
	if err := gcsim.Serve(ctx, sim, gcsim.ServeOptions{Listen: o.Listen, TLS: o.TLS, CertOut: o.CertOut}, o.Out); err != nil {
		return exitErr(2, err)
	}
	return nil
}

// parseSimRate reads "5/s", "300/m", "1000/h" or a bare number (per second) as calls per second.
func parseSimRate(s string) (float64, error) {
	num, unit, _ := strings.Cut(strings.TrimSpace(s), "/")
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want N/s, N/m or N/h, not %q", s)
	}
	switch strings.TrimSpace(unit) {
	case "", "s":
		return n, nil
	case "m":
		return n / 60, nil
	case "h":
		return n / 3600, nil
	}
	return 0, fmt.Errorf("want N/s, N/m or N/h, not %q", s)
}

// parseSimBudget reads "100/2h" (calls per window); a bare number keeps the 2-hour window.
func parseSimBudget(s string) (int, time.Duration, error) {
	num, win, hasWin := strings.Cut(strings.TrimSpace(s), "/")
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil || n <= 0 {
		return 0, 0, fmt.Errorf("want N/DURATION such as 100/2h, not %q", s)
	}
	window := 2 * time.Hour
	if hasWin {
		w := strings.TrimSpace(win)
		if w != "" && (w[0] < '0' || w[0] > '9') {
			w = "1" + w // "100/h" means per hour
		}
		d, err := time.ParseDuration(w)
		if err != nil || d <= 0 {
			return 0, 0, fmt.Errorf("want N/DURATION such as 100/2h, not %q", s)
		}
		window = d
	}
	return n, window, nil
}
