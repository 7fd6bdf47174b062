"""Mock of transformers.modeling_outputs (see mock/transformers/__init__.py)."""


class BaseModelOutput(dict):
    def __init__(self, last_hidden_state=None):
        super().__init__(last_hidden_state=last_hidden_state)
        self.last_hidden_state = last_hidden_state

    def __getitem__(self, k):
        if isinstance(k, int):
            return self.last_hidden_state
        return dict.__getitem__(self, k)
