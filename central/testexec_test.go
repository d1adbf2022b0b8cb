package central

import (
	"encoding/json"

	"atrium/record"
)

// testExec is a tiny executor for the tests: "test.put" writes a record of
// kind "item" from its args, "test.reject" is always refused.
func testExec(tx record.Tx, cmd record.Command) error {
	switch cmd.Op {
	case "test.put":
		var a struct {
			ID, Key, Value string
			Deleted        bool
		}
		if err := json.Unmarshal(cmd.Args, &a); err != nil || a.ID == "" {
			return record.Reject("invalid", "Arguments invalides.")
		}
		if a.Key != "" {
			if r, ok, err := tx.ByKey("item", a.Key); err != nil {
				return err
			} else if ok && r.ID != a.ID {
				return record.Reject("conflict", "Clé déjà prise.")
			}
		}
		body, _ := json.Marshal(map[string]string{"value": a.Value})
		return tx.Put(record.Record{Partition: cmd.Partition, ID: a.ID, Kind: "item", Key: a.Key, Deleted: a.Deleted, Body: body})
	case "test.reject":
		return record.Reject("forbidden", "Action interdite.")
	}
	return record.Reject("unknown_op", "Opération inconnue.")
}

func putCmd(origin, partition, id, key, value string, ms int64) record.Command {
	args, _ := json.Marshal(map[string]string{"ID": id, "Key": key, "Value": value})
	return record.Command{Origin: origin, Op: "test.put", Partition: partition, Args: args, Time: ms}
}

func valueOf(t interface{ Fatalf(string, ...any) }, r record.Record) string {
	var b struct{ Value string }
	if err := json.Unmarshal(r.Body, &b); err != nil {
		t.Fatalf("body %q: %v", r.Body, err)
	}
	return b.Value
}
