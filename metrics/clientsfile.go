package metrics

import "github.com/prometheus/client_golang/prometheus"

// Reasons a clients file version is not applied (ClientsFileRefused).
const (
	// ClientsFileInvalid: the file cannot be read or does not validate.
	ClientsFileInvalid = "invalid"
	// ClientsFileOlder: its revision is older than the registry applied.
	ClientsFileOlder = "older"
	// ClientsFileConflict: it has the applied revision but other clients.
	ClientsFileConflict = "conflict"
)

// clientsFileMetrics say how this instance's clients.yaml stands against
// the clients registry the shared store applied.
type clientsFileMetrics struct {
	differs         prometheus.Gauge
	fileRevision    prometheus.Gauge
	appliedRevision prometheus.Gauge
	refused         *prometheus.CounterVec
}

func newClientsFileMetrics(reg *prometheus.Registry) *clientsFileMetrics {
	c := &clientsFileMetrics{
		differs: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatehouse_clients_file_differs",
			Help: "1 while this instance's clients.yaml is not the clients registry applied in the store (an older revision, the same revision with other clients, another file without revision, or a file refused as invalid): the instance serves the applied clients, not its file's.",
		}),
		fileRevision: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatehouse_clients_file_revision",
			Help: "The revision of this instance's clients.yaml as last read (0: the file declares none).",
		}),
		appliedRevision: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatehouse_clients_registry_revision",
			Help: "The revision of the clients registry applied in the store, as this instance last read it (0: none, or a file without revision).",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_clients_file_refused_total",
			Help: "Versions of this instance's clients.yaml not applied, by reason: invalid, older (revision) or conflict (same revision, other clients).",
		}, []string{"reason"}),
	}
	reg.MustRegister(c.differs, c.fileRevision, c.appliedRevision, c.refused)
	for _, r := range []string{ClientsFileInvalid, ClientsFileOlder, ClientsFileConflict} {
		c.refused.WithLabelValues(r)
	}
	return c
}

// ClientsFile records how this instance's clients file stands: differs
// while its clients are not the registry applied in the store;
// fileRevision is the file's revision and appliedRevision the applied
// registry's (0 for none).
func (m *Metrics) ClientsFile(differs bool, fileRevision, appliedRevision int64) {
	if m == nil {
		return
	}
	d := 0.0
	if differs {
		d = 1
	}
	m.clientsFile.differs.Set(d)
	m.clientsFile.fileRevision.Set(float64(fileRevision))
	m.clientsFile.appliedRevision.Set(float64(appliedRevision))
}

// ClientsFileDiffers sets only whether this instance's clients file is not
// the registry applied in the store (as when the file cannot be read).
func (m *Metrics) ClientsFileDiffers(differs bool) {
	if m == nil {
		return
	}
	d := 0.0
	if differs {
		d = 1
	}
	m.clientsFile.differs.Set(d)
}

// ClientsFileRefused counts a version of the clients file not applied, by
// reason: ClientsFileInvalid, ClientsFileOlder or ClientsFileConflict.
func (m *Metrics) ClientsFileRefused(reason string) {
	if m == nil {
		return
	}
	m.clientsFile.refused.WithLabelValues(reason).Inc()
}
