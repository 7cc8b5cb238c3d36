"""A realistic, reproducible, clearly fictional city (虚构城市) for the demo
and end-to-end tests: 市直机关 departments, branches, members, service
recipients. All names are generated; no real person's data.

``City.generate(seed, scale)``: scale 1.0 is about 60 departments, 300
branches, 5,000 members, 2,000 enterprises, 200 projects, 150 communities.
"""

import dataclasses
import random

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾"
            "肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏"
            "韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔")
GIVEN = ("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建国志"
         "宏海燕晓东文斌宁丹欣怡佳琪浩然子涵思远嘉诚俊峰雅婷立新卫东春梅振华"
         "家豪慧颖博文天宇晨阳书瑶若曦")
DEPARTMENTS = (
    "市发展和改革委员会", "市教育局", "市科学技术局", "市工业和信息化局", "市公安局",
    "市民政局", "市司法局", "市财政局", "市人力资源和社会保障局", "市自然资源和规划局",
    "市生态环境局", "市住房和城乡建设局", "市交通运输局", "市水利局", "市农业农村局",
    "市商务局", "市文化广电和旅游局", "市卫生健康委员会", "市退役军人事务局",
    "市应急管理局", "市审计局", "市市场监督管理局", "市统计局", "市医疗保障局",
    "市城市管理局", "市行政审批服务局", "市投资促进局", "市数据资源管理局",
    "市机关事务管理局", "市信访局", "市林业局", "市地方金融监督管理局", "市体育局",
    "市粮食和物资储备局", "市人民防空办公室", "市国有资产监督管理委员会",
    "市住房公积金管理中心", "市政务服务中心", "市公共资源交易中心", "市档案馆",
    "市总工会", "共青团市委", "市妇女联合会", "市科学技术协会", "市工商业联合会",
    "市残疾人联合会", "市供销合作社", "市文学艺术界联合会", "市社会科学界联合会",
    "市红十字会", "市侨务办公室", "市台湾事务办公室", "市民族宗教事务局",
    "市乡村振兴局", "市营商环境建设局", "市港口管理局", "市口岸办公室",
    "市气象局", "市税务局", "市邮政管理局",
)
TRADE_WORDS = ("华创", "金桥", "恒信", "瑞丰", "博远", "鼎盛", "启明", "新锐", "汇通",
               "宏图", "安泰", "嘉禾", "正源", "云帆", "星河", "睿智", "同舟", "锦程")
INDUSTRIES = ("智能制造", "新材料", "生物医药", "电子科技", "物流", "食品", "建材",
              "软件", "新能源", "纺织", "机械", "环保科技", "文化传媒", "农业科技")
DISTRICTS = ("滨江", "城东", "城西", "高新", "临港", "南湖", "北山", "经开")
PROJECT_KINDS = ("产业园", "综合体", "物流园", "污水处理厂", "安置房", "科创中心",
                 "智慧仓储基地", "学校扩建工程", "医院门诊楼", "快速路改造工程")
COMMUNITY_SUFFIX = ("社区", "村", "街道")


@dataclasses.dataclass
class City:
    seed: int
    units: list
    divisions: list
    branches: list
    members: list
    enterprises: list
    projects: list
    communities: list
    citizens: list

    @classmethod
    def generate(cls, seed=2026, scale=1.0):
        rng = random.Random(seed)
        # Smaller cities keep more departments than members (a ranking of
        # three units says little): units grow with the square root.
        n_units = max(3, min(len(DEPARTMENTS), round(60 * scale ** 0.5)))
        units, divisions, branches, members = [], [], [], []
        used_phones = set()

        def phone():
            while True:
                number = "1" + rng.choice("3456789") + "".join(
                    rng.choice("0123456789") for _ in range(9))
                if number not in used_phones:
                    used_phones.add(number)
                    return number

        def person_name():
            return rng.choice(SURNAMES) + "".join(
                rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))

        branches_per_unit = max(1, round(300 * scale / n_units)) if scale else 1
        members_per_branch = max(3, round(5000 * scale / max(
            1, n_units * branches_per_unit)))
        for u in range(n_units):
            unit_id = f"u{u + 1:03d}"
            units.append({"id": unit_id, "name": DEPARTMENTS[u]})
            unit_divisions = []
            for d in range(max(2, branches_per_unit)):
                division = {"id": f"{unit_id}-d{d + 1:02d}", "unit_id": unit_id,
                            "name": ("办公室", "政策法规处", "综合规划处",
                                     "行政审批处", "监督检查处", "财务处",
                                     "人事处", "产业发展处")[d % 8]
                            + ("" if d < 8 else str(d // 8 + 1))}
                unit_divisions.append(division)
            divisions.extend(unit_divisions)
            for b in range(branches_per_unit):
                branch_id = f"{unit_id}-b{b + 1:02d}"
                branch = {"id": branch_id, "unit_id": unit_id,
                          "name": f"{DEPARTMENTS[u]}机关第{_cn(b + 1)}党支部"}
                branches.append(branch)
                for m in range(members_per_branch):
                    member = {
                        "id": f"{branch_id}-m{m + 1:03d}",
                        "name": person_name(),
                        "unit_id": unit_id,
                        "branch_id": branch_id,
                        "division_id": unit_divisions[
                            (b + m) % len(unit_divisions)]["id"],
                        "role": "branch_secretary" if m == 0 else "member",
                        "phone": phone(),
                    }
                    members.append(member)
                branch["secretary_id"] = f"{branch_id}-m001"
        enterprises = [{
            "id": f"e{i + 1:05d}", "type": "enterprise",
            "name": (rng.choice(DISTRICTS) + rng.choice(TRADE_WORDS)
                     + rng.choice(INDUSTRIES) + "有限公司"),
            "contact_name": person_name(), "phone": phone(),
        } for i in range(max(5, round(2000 * scale)))]
        projects = [{
            "id": f"p{i + 1:04d}", "type": "project",
            "name": rng.choice(DISTRICTS) + rng.choice(PROJECT_KINDS),
            "contact_name": person_name(), "phone": phone(),
        } for i in range(max(2, round(200 * scale)))]
        communities = [{
            "id": f"c{i + 1:04d}", "type": "community",
            "name": rng.choice(DISTRICTS) + rng.choice(TRADE_WORDS[:10])
            + rng.choice(COMMUNITY_SUFFIX),
            "contact_name": person_name(), "phone": phone(),
        } for i in range(max(2, round(150 * scale)))]
        citizens = [{
            "id": f"z{i + 1:05d}", "type": "citizen", "name": person_name(),
            "phone": phone(),
        } for i in range(max(5, round(1000 * scale)))]
        return cls(seed, units, divisions, branches, members, enterprises,
                   projects, communities, citizens)

    def recipients_for(self, category):
        return {"enterprise": self.enterprises, "project": self.projects,
                "grassroots": self.communities,
                "masses": self.citizens}[category]


def _cn(number):
    digits = "零一二三四五六七八九十"
    if number <= 10:
        return digits[number]
    if number < 20:
        return "十" + digits[number - 10]
    return digits[number // 10] + "十" + (digits[number % 10]
                                         if number % 10 else "")
