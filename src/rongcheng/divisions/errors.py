from rongcheng.kernel.errors import NotFound


class DivisionNotFound(NotFound):
    type_slug = "not-found"
