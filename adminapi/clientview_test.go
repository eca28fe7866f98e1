package adminapi

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// TestClientViewCoversStorageClient changes each field of a client in turn
// and checks the API's view of it changes too, so that a setting added to
// storage.Client cannot be left out of what GET /clients shows. The
// secret hash alone is never shown.
func TestClientViewCoversStorageClient(t *testing.T) {
	base := storage.Client{ID: "c", Source: storage.ClientSourceAPI}
	before, _ := json.Marshal(viewClient(&base))
	typ := reflect.TypeFor[storage.Client]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Name == "SecretHash" || f.Name == "ID" {
			continue
		}
		t.Run(f.Name, func(t *testing.T) {
			changed := base
			v := reflect.ValueOf(&changed).Elem().Field(i)
			switch v.Kind() {
			case reflect.String:
				v.SetString("x")
			case reflect.Bool:
				v.SetBool(!v.Bool())
			case reflect.Int64:
				v.SetInt(int64(time.Hour))
			case reflect.Slice:
				if v.Type().Elem().Kind() == reflect.Uint8 {
					v.SetBytes([]byte(`{"keys":[]}`))
				} else {
					v.Set(reflect.ValueOf([]string{"x"}))
				}
			case reflect.Struct: // time.Time
				v.Set(reflect.ValueOf(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)))
			default:
				t.Fatalf("field %s of kind %s: teach this test to change it", f.Name, v.Kind())
			}
			after, _ := json.Marshal(viewClient(&changed))
			if string(after) == string(before) {
				t.Errorf("changing %s does not change the API's view of the client", f.Name)
			}
		})
	}
}
