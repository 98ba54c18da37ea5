package mappings

import (
	"testing"
)

const benchMapping = `target: deals
fields:
  deal.deal_number: {column: Номер заказа, required: true}
  deal.deal_created_at: {column: Дата, transform: [{date: DD.MM.YYYY HH:mm}]}
  user.email: {column: E-mail, transform: [trim, lower, email]}
  user.phone: {column: Телефон, transform: [phone]}
  user.first_name: Имя
  user.last_name: Фамилия
  deal.product_title: Товар
  deal.deal_cost: {column: Сумма, transform: [money]}
  deal.deal_status: {column: Статус, map: {Новый: new, Оплачен: payed, Отменён: cancelled}, default: new}
  deal.deal_is_paid: {column: Оплачен, transform: [bool]}
  user.group_name: {column: Группы, split: ","}
  user.addfields.Промокод: Промокод
  system.refresh_if_exists: {value: 1}
require_one_of: [user.email, user.phone]
`

var (
	benchHeader = []string{"Номер заказа", "Дата", "Имя", "Фамилия", "E-mail", "Телефон", "Товар", "Сумма", "Статус", "Оплачен", "Группы", "Промокод"}
	benchRow    = []string{"SHOP-10231", "01.03.2024 09:15", "Анна", "Смирнова", "anna.smirnova@mail.ru", "8 (916) 123-45-67",
		"Курс «SMM с нуля»", "9 990,00 ₽", "Оплачен", "да", "Клиенты, Рассылка", "ВЕСНА10"}
)

// BenchmarkApply measures one row through a typical deals mapping; validate needs well over
// 100,000 rows/s including CSV reading.
func BenchmarkApply(b *testing.B) {
	m, err := Parse("bench.yaml", []byte(benchMapping))
	if err != nil {
		b.Fatal(err)
	}
	c, err := m.Compile(benchHeader)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Apply(benchRow); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
