package storage

import (
	"reflect"
	"testing"
	"time"
)

// TestSameClientComparesEveryField changes each field of a client in turn
// and checks that PlanClientSync then updates it, so that a field added to
// Client cannot be forgotten by the sync. Only the fields a sync sets
// itself (or, for Source, refuses to change) are exempt.
func TestSameClientComparesEveryField(t *testing.T) {
	exempt := map[string]bool{"ID": true, "Disabled": true, "CreatedAt": true, "UpdatedAt": true,
		"Source": true, "Version": true}
	typ := reflect.TypeFor[Client]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if exempt[f.Name] {
			continue
		}
		t.Run(f.Name, func(t *testing.T) {
			stored := Client{ID: "c"}
			given := stored
			v := reflect.ValueOf(&given).Elem().Field(i)
			switch v.Kind() {
			case reflect.String:
				v.SetString("x")
			case reflect.Bool:
				v.SetBool(true)
			case reflect.Int64: // time.Duration
				v.SetInt(int64(time.Second))
			case reflect.Slice:
				v.Set(reflect.MakeSlice(v.Type(), 1, 1))
			default:
				t.Fatalf("field %s of kind %s: teach this test to change it", f.Name, v.Kind())
			}
			p, err := PlanClientSync([]Client{stored}, []Client{given})
			if err != nil {
				t.Fatalf("PlanClientSync: %v", err)
			}
			if len(p.Update) != 1 {
				t.Errorf("PlanClientSync with %s changed: got %d updates, want 1", f.Name, len(p.Update))
			}
		})
	}
}
