// Command podsec-trivy-db writes a tiny offline Trivy vulnerability database from a JSON fixture, laid out as
// Trivy's cache expects it: <cache>/db/trivy.db (BoltDB, schema of github.com/aquasecurity/trivy-db) and
// <cache>/db/metadata.json. Tests scan a small image with `trivy --cache-dir <cache> --skip-db-update
// --offline-scan` against it; the real database is a download we cannot make here.
//
//	podsec-trivy-db -fixture fixture.json -cache-dir DIR
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/metadata"
	"github.com/aquasecurity/trivy-db/pkg/types"
	bolt "go.etcd.io/bbolt"
)

// Fixture is the committed input: the data sources (per platform bucket, e.g. "debian 12") and the advisories.
type Fixture struct {
	UpdatedAt   time.Time                   `json:"updatedAt"`
	DataSources map[string]types.DataSource `json:"dataSources"`
	Advisories  []Advisory                  `json:"advisories"`
}

// Advisory is one vulnerability of one (source) package on one platform.
type Advisory struct {
	Platform        string   `json:"platform"`
	Package         string   `json:"package"`
	VulnerabilityID string   `json:"vulnerabilityID"`
	FixedVersion    string   `json:"fixedVersion"`
	Severity        string   `json:"severity"`
	Title           string   `json:"title"`
	Description     string   `json:"description"`
	References      []string `json:"references"`
}

func main() {
	fixturePath := flag.String("fixture", "", "fixture JSON file")
	cacheDir := flag.String("cache-dir", "", "Trivy cache directory to write db/ into")
	flag.Parse()
	if *fixturePath == "" || *cacheDir == "" {
		fmt.Fprintln(os.Stderr, "usage: podsec-trivy-db -fixture FILE -cache-dir DIR")
		os.Exit(2)
	}
	if err := run(*fixturePath, *cacheDir); err != nil {
		fmt.Fprintln(os.Stderr, "podsec-trivy-db:", err)
		os.Exit(1)
	}
}

func run(fixturePath, cacheDir string) error {
	f, err := os.Open(fixturePath)
	if err != nil {
		return err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, 1<<20)) // a fixture, never large
	if err != nil {
		return err
	}
	var fx Fixture
	if err := json.Unmarshal(raw, &fx); err != nil {
		return fmt.Errorf("%s: %w", fixturePath, err)
	}
	for _, a := range fx.Advisories {
		if _, ok := fx.DataSources[a.Platform]; !ok {
			return fmt.Errorf("%s: advisory %s names platform %q without a data source", fixturePath, a.VulnerabilityID, a.Platform)
		}
		if _, err := types.NewSeverity(a.Severity); err != nil {
			return fmt.Errorf("%s: advisory %s: %w", fixturePath, a.VulnerabilityID, err)
		}
	}

	dbDir := filepath.Join(cacheDir, "db")
	if err := os.MkdirAll(dbDir, 0o700); err != nil {
		return err
	}
	if err := os.Remove(db.Path(dbDir)); err != nil && !os.IsNotExist(err) {
		return err
	}
	if err := db.Init(dbDir); err != nil {
		return err
	}
	dbc := db.Config{}
	err = dbc.BatchUpdate(func(tx *bolt.Tx) error {
		for platform, source := range fx.DataSources {
			if err := dbc.PutDataSource(tx, platform, source); err != nil {
				return err
			}
		}
		for _, a := range fx.Advisories {
			sev, _ := types.NewSeverity(a.Severity)
			adv := types.Advisory{FixedVersion: a.FixedVersion}
			if err := dbc.PutAdvisory(tx, []string{a.Platform, a.Package}, a.VulnerabilityID, adv); err != nil {
				return err
			}
			vuln := types.Vulnerability{
				Title:          a.Title,
				Description:    a.Description,
				Severity:       sev.String(),
				VendorSeverity: types.VendorSeverity{fx.DataSources[a.Platform].ID: sev},
				References:     a.References,
			}
			if err := dbc.PutVulnerability(tx, a.VulnerabilityID, vuln); err != nil {
				return err
			}
			if err := dbc.PutVulnerabilityID(tx, a.VulnerabilityID); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// NextUpdate far ahead: the database never looks stale to a scan that skips updates.
	return metadata.NewClient(dbDir).Update(metadata.Metadata{
		Version:    db.SchemaVersion,
		NextUpdate: fx.UpdatedAt.AddDate(100, 0, 0),
		UpdatedAt:  fx.UpdatedAt,
	})
}
