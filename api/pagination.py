from rest_framework import pagination
from rest_framework.exceptions import ValidationError


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 1000

    def get_page_size(self, request) -> int:
        """DRF falls back to the default page size on a page_size it cannot read (`page_size=null`, `0`, `-5`):
        the client would get pages of a size it did not ask for. Refused instead; above the maximum is cut to it."""
        if self.page_size_query_param not in request.query_params:
            return self.page_size
        text = request.query_params[self.page_size_query_param].strip()
        digits = text.lstrip("0")
        if not (text.isascii() and text.isdigit()) or not digits:
            raise ValidationError(
                {self.page_size_query_param: [f"Give a whole number from 1 (at most {self.max_page_size} are sent)."]}
            )
        return min(int(digits[:10]), self.max_page_size)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["minimum"] = 1
                parameter["description"] = f"Results per page, default {self.page_size}, at most {self.max_page_size}"
            if parameter["name"] == self.page_query_param:
                parameter["schema"]["minimum"] = 1
        return parameters
