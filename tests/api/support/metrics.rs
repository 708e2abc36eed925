//! The service's Prometheus page, as tests read it.

use super::server::TestApp;

impl TestApp {
    /// The text of `/metrics`.
    pub async fn metrics_page(&self) -> String {
        self.http.get(self.url("/metrics")).send().await.expect("get /metrics").text().await.expect("text")
    }

    /// The value of an unlabelled gauge or counter on `/metrics`.
    pub async fn metric(&self, series: &str) -> f64 {
        let page = self.metrics_page().await;
        page.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {series} on /metrics:\n{page}"))
    }
}
