"""The city's districts: Xining's five districts and two counties (五区两县), with their
administrative division codes (GB/T 2260). Read by the register (names of a district code, the
demo register), the simulated city (where its devices stand), the settings (the counties' longer
rescue arrival limit) and the console (a district's name).

Where a unit stands is the register's ``equipment.district_code`` and nothing else: no equipment
code holds it. A 设备代码 (TSG 08-2017) names the manufacturer, and the older 20-digit 注册代码
the authority that registered the unit, which may be the city's bureau for every district
(``registry.codes``)."""

from __future__ import annotations

from dataclasses import dataclass

COUNTY_ARRIVAL_DEADLINE_S = 3600.0
"""The rescue arrival limit in a county, seconds; the city's districts keep the general one
(``IncidentSettings.arrival_deadline_s``, 30 minutes)."""


@dataclass(frozen=True, slots=True)
class District:
    name: str
    code: str  # administrative division code (GB/T 2260)
    share: float  # of the city's equipment
    streets: tuple[str, ...]
    seat: tuple[float, float]  # where its government sits, WGS84 (latitude, longitude), degrees, approximate
    rural: tuple[str, ...] = ()  # townships outside the urban core and the county seat (area "other")
    county: bool = False  # a county: an hour for rescue arrival (COUNTY_ARRIVAL_DEADLINE_S), not 30 minutes


XINING: tuple[District, ...] = (
    District("城东区", "630102", 0.20, ("八一路", "东关大街", "建国路", "互助路", "康乐路"), (36.6160, 101.8060)),
    District("城中区", "630103", 0.21, ("南大街", "西大街", "长江路", "南山路", "南川东路"), (36.6200, 101.7800)),
    District("城西区", "630104", 0.23, ("五四大街", "胜利路", "西关大街", "黄河路", "海晏路"), (36.6280, 101.7530)),
    District("城北区", "630105", 0.17, ("柴达木路", "朝阳东路", "小桥大街", "祁连路", "宁张路"), (36.6620, 101.7660),
             ("二十里铺镇",)),
    District("湟中区", "630106", 0.09, ("鲁沙尔镇和平路", "多巴镇康川路", "塔尔寺路"), (36.5010, 101.5710),
             ("上新庄镇", "田家寨镇", "李家山镇")),
    District("大通县", "630121", 0.06, ("桥头镇园林路", "桥头镇人民路", "长宁镇建设路"), (36.9280, 101.6850),
             ("黄家寨镇", "多林镇", "青林乡"), county=True),
    District("湟源县", "630123", 0.04, ("城关镇文化街", "城关镇解放路"), (36.6820, 101.2560), ("大华镇", "日月乡"),
             county=True),
)


def county_codes(districts: tuple[District, ...] = XINING) -> tuple[str, ...]:
    """The division codes of the counties among ``districts``."""
    return tuple(d.code for d in districts if d.county)

