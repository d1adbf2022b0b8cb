package ent

import "atrium/record"

// PublishedToEdge reports whether the edge of lycée uai holds record r: all
// of its own partition, and of the region's only the news and the CAS
// registry and the usage statistics' pseudonymisation key, the region's
// catalogue of resources and the chunks of its files (never the Région's users). Central-only partitions (audit
// trails, the directory's view, import reports) never reach an edge.
func PublishedToEdge(uai string, r record.Record) bool {
	switch r.Partition {
	case uai:
		return uai != "" && uai != record.Region
	case record.Region:
		return r.Kind == KindNews || r.Kind == KindCASService || r.Kind == KindUsageKey ||
			r.Kind == KindCatalogueItem || r.Kind == KindFileChunk // the region's catalogue and its files
	}
	return false
}
