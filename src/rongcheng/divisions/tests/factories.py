import factory

from rongcheng.divisions.models import Division, DivisionLevel


class CountyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Division
        django_get_or_create = ("code",)

    code = factory.Iterator(["350102", "350103", "350104", "350105", "350111"])
    name = factory.Iterator(["鼓楼区", "台江区", "仓山区", "马尾区", "晋安区"])
    level = DivisionLevel.COUNTY
