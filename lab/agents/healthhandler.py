"""The HTTP side of kube-proxy's health check node ports: ``lab.agents.kubeproxy`` decides the
answers (``HealthAnswer``) and hands them to the server as ``answers()``."""

import http.server


class HealthHandler(http.server.BaseHTTPRequestHandler):
    """Every GET (any path) gets the service's answer, with Go's sorted headers and no Server header."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self._answer(body=True)

    def do_HEAD(self):
        self._answer(body=False)

    def _answer(self, body):
        answer = self.server.answers().get(self.server.health_port)
        if answer is None:  # the port was closed by a resync while this connection stayed open
            status, headers, payload, self.close_connection = 503, (), b"", True
        else:
            status, headers, payload = answer.status, answer.headers, answer.body
        self.send_response_only(status)
        headers += (("Content-Length", str(len(payload))), ("Date", self.date_time_string()))
        for name, value in sorted(headers):
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def log_message(self, format, *args):  # load balancers probe every few seconds: keep the log quiet
        pass
