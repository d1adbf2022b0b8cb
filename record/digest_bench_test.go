package record

import "testing"

// BenchmarkDigestOf measures the digest of a record of ~200 bytes, which
// every write pays twice (the old version out, the new one in).
//
//	go test -run '^$' -bench BenchmarkDigestOf ./record/
func BenchmarkDigestOf(b *testing.B) {
	r := Record{Partition: "0130040Y", ID: "0190d5a0-0000-7000-8000-000000000001", Kind: "message", Seq: 12345,
		Body: make([]byte, 200)}
	enc := AppendRecord(nil, r)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DigestOfEncoded(enc); err != nil {
			b.Fatal(err)
		}
	}
}
