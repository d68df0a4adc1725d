// Package deploy holds no code: it is the home of seckill's deployment
// files (docker-compose.yml and the Dockerfile at the repository root,
// prometheus/, grafana/, the compose cluster profile's cluster/ and the
// Helm chart helm/seckill here) and of the tests that prove them: the
// rules pass promtool, every dashboard panel returns data from a real
// Prometheus scraping a real api and worker, the compose file matches the
// binaries' configuration, and the chart renders manifests that do.
package deploy
