from rest_framework.negotiation import DefaultContentNegotiation


class JsonFallbackNegotiation(DefaultContentNegotiation):
    """Answers with the view's first renderer when the client's Accept matches none.

    Audio endpoints return audio on success and the JSON envelope on error; a
    client that sent ``Accept: audio/wav`` must still be told what went wrong
    rather than getting a bare 406.
    """

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except Exception:
            return renderers[0], renderers[0].media_type
